/* double_include_a.c + double_include_b.c — two translation units including opentrail.h link
 * into one program (no definitions in the header). */
#include "opentrail.h"

const char *version_from_b(void);

int main(void) {
    return version_from_b() == ot_version() ? 0 : 1;
}
