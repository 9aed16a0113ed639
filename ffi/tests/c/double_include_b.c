/* See double_include_a.c. */
#include "opentrail.h"
#include "opentrail.h"

const char *version_from_b(void);

const char *version_from_b(void) {
    return ot_version();
}
