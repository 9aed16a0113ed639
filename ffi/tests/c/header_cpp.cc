// header_cpp.cc — opentrail.h compiles as C++ (-std=c++11 -pedantic), twice, with C linkage.
#include "opentrail.h"
#include "opentrail.h"

#include <cstring>

static_assert(OT_VERSION_NUMBER ==
                  OT_VERSION_MAJOR * 1000000 + OT_VERSION_MINOR * 1000 + OT_VERSION_PATCH,
              "version number");
static_assert(sizeof(ot_status) == 4, "ot_status is 32 bits");

int main() {
    ot_agent *agent = nullptr;
    ot_error *err = nullptr;
    ot_status st = ot_agent_new(nullptr, &agent, &err);
    bool ok = st == OT_STATUS_NULL_PARAMETER && agent == nullptr &&
              ot_error_status(err) == OT_STATUS_NULL_PARAMETER &&
              std::strlen(ot_error_message(err)) > 0;
    ot_error_free(err);
    return ok ? 0 : 1;
}
