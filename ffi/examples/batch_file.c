/*
 * batch_file.c — ship a JSON-lines file of CloudTrail records with one ot_agent_submit_batch
 * call, linked against the static library. Usage: batch_file <work-dir> <records.jsonl>
 *
 * Build (from the repository root, after `cargo build --release -p opentrail-ffi`):
 *   cc -std=c99 -Wall -Iffi/include ffi/examples/batch_file.c target/release/libopentrail_ffi.a \
 *      -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o batch_file
 */
#include <stdio.h>
#include <stdlib.h>

#include "opentrail.h"

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf) *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <work-dir> <records.jsonl>\n", argv[0]);
        return 2;
    }
    size_t len = 0;
    unsigned char *lines = slurp(argv[2], &len);
    if (!lines) {
        perror(argv[2]);
        return 2;
    }
    char config[1024];
    snprintf(config, sizeof(config),
             "data_dir = \"%s/data\"\naccount_id = \"123456789012\"\n"
             "[storage]\nlocal_root = \"%s/out\"\n"
             "[[trails]]\nname = \"main\"\ns3_bucket_name = \"audit-logs\"\n"
             "is_multi_region_trail = true\n",
             argv[1], argv[1]);
    ot_agent *agent = NULL;
    ot_error *err = NULL;
    if (ot_agent_new(config, &agent, &err) != OT_STATUS_OK) {
        fprintf(stderr, "ot_agent_new: %s\n", ot_error_message(err));
        ot_error_free(err);
        free(lines);
        return 1;
    }
    size_t accepted = 0;
    ot_status st = ot_agent_submit_batch(agent, lines, len, &accepted, &err);
    free(lines);
    printf("accepted %zu lines (%s)\n", accepted, ot_status_str(st));
    if (st == OT_STATUS_INVALID_RECORD) {
        /* Partial success: the valid lines were taken; the error names the refused ones. */
        printf("refused: %.300s\n", ot_error_message(err));
    }
    ot_error_free(err);
    err = NULL;
    /* Shutdown drains: every accepted record is delivered before it returns OK. */
    st = ot_agent_shutdown(agent, 60000, &err);
    ot_stats s = {0};
    ot_agent_stats(agent, &s);
    printf("delivered %llu records in %llu files (%s)\n", (unsigned long long)s.records_delivered,
           (unsigned long long)s.files_delivered, ot_status_str(st));
    ot_error_free(err);
    ot_agent_free(agent);
    return st == OT_STATUS_OK && s.records_delivered == accepted ? 0 : 1;
}
