/*
 * quickstart.c — start an agent, submit a CloudTrail record, flush, read the counters, shut
 * down. Usage: quickstart <work-dir>   (delivered files land in <work-dir>/out)
 *
 * Build (after `cargo build --release -p opentrail-ffi`, from the repository root):
 *   cc -std=c99 -Wall -Iffi/include ffi/examples/quickstart.c -Ltarget/release \
 *      -lopentrail_ffi -Wl,-rpath,$PWD/target/release -o quickstart
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opentrail.h"

/* Prints the error (if any), frees it and returns 1 for "failed". */
static int report(const char *what, ot_status st, ot_error *err) {
    if (st == OT_STATUS_OK) return 0;
    fprintf(stderr, "%s failed: %s (%u): %s\n", what, ot_status_str(st), (unsigned)st,
            ot_error_message(err));
    ot_error_free(err);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <work-dir>\n", argv[0]);
        return 2;
    }
    printf("%s (ABI %u)\n", ot_version(), ot_abi_version());

    char config[1024];
    snprintf(config, sizeof(config),
             "data_dir = \"%s/data\"\n"
             "account_id = \"123456789012\"\n"
             "durability = \"memory\"\n"
             "[storage]\n"
             "local_root = \"%s/out\"\n"
             "[[trails]]\n"
             "name = \"main\"\n"
             "s3_bucket_name = \"audit-logs\"\n"
             "is_multi_region_trail = true\n",
             argv[1], argv[1]);

    ot_agent *agent = NULL;
    ot_error *err = NULL;
    if (report("ot_agent_new", ot_agent_new(config, &agent, &err), err)) return 1;

    const char *record =
        "{\"eventVersion\":\"1.08\",\"eventTime\":\"2024-05-01T12:00:00Z\","
        "\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"CreateBucket\","
        "\"awsRegion\":\"eu-west-1\",\"userIdentity\":{\"type\":\"IAMUser\","
        "\"accountId\":\"123456789012\"},\"eventID\":\"6f1c2a3b-0000-4000-8000-000000000001\"}";
    int failed = report("ot_agent_submit",
                        ot_agent_submit(agent, (const uint8_t *)record, strlen(record), &err), err);

    /* A refused record: the status says so, the error says why. */
    const char *bad = "{\"eventName\":\"NoSource\"}";
    err = NULL;
    ot_status st = ot_agent_submit(agent, (const uint8_t *)bad, strlen(bad), &err);
    printf("bad record: %s, reason %s: %s\n", ot_status_str(st), ot_error_reason(err),
           ot_error_message(err));
    ot_error_free(err);
    err = NULL;

    failed |= report("ot_agent_flush", ot_agent_flush(agent, 10000, &err), err);
    ot_stats s;
    if (ot_agent_stats(agent, &s) == OT_STATUS_OK) {
        printf("accepted %llu, rejected %llu, delivered %llu in %llu file(s)\n",
               (unsigned long long)s.records_accepted, (unsigned long long)s.records_rejected,
               (unsigned long long)s.records_delivered, (unsigned long long)s.files_delivered);
        failed |= s.records_delivered != 1 || s.records_rejected != 1;
    }
    err = NULL;
    failed |= report("ot_agent_shutdown", ot_agent_shutdown(agent, OT_TIMEOUT_DEFAULT, &err), err);
    ot_agent_free(agent);
    return failed;
}
