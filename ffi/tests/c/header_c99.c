/* header_c99.c — opentrail.h compiles as strict C99 (-std=c99 -pedantic), can be included
 * twice, and its version macros are consistent. Compile-only plus a trivial run. */
#include "opentrail.h"
#include "opentrail.h"

/* C99 has no _Static_assert: a negative array size fails the build. */
typedef char ot_version_number_is_consistent
    [(OT_VERSION_NUMBER ==
      OT_VERSION_MAJOR * 1000000 + OT_VERSION_MINOR * 1000 + OT_VERSION_PATCH) ? 1 : -1];
typedef char ot_status_is_32_bits[sizeof(ot_status) == 4 ? 1 : -1];
typedef char ot_stats_is_six_u64[sizeof(ot_stats) == 6 * sizeof(uint64_t) ? 1 : -1];

int main(void) {
    ot_version_number_is_consistent a;
    ot_status_is_32_bits b;
    ot_stats_is_six_u64 c;
    (void)a;
    (void)b;
    (void)c;
    return ot_abi_version() == OT_ABI_VERSION ? 0 : 1;
}
