/*
 * test_corpus.c — ships the whole real-CloudTrail corpus through the C ABI and reads the
 * delivered files back.
 *
 *   test_corpus <records.jsonl> <corpus_refused.txt>
 *
 * Pass 1 submits line by line (durability = "memory"); pass 2 submits the whole file as one
 * ot_agent_submit_batch (durability = "spool"). Each pass asserts: every line listed in
 * corpus_refused.txt is refused with OT_STATUS_INVALID_RECORD and the listed reason, every other
 * line is accepted, and after flush the delivered *.json.gz files (single-member gzip of
 * {"Records":[...]}) hold exactly the accepted records, byte for byte.
 */
#include "common.h"

#define MAX_REFUSED 64

static struct {
    long line;
    char reason[64];
} g_refused[MAX_REFUSED];
static int g_nrefused;

static const char *g_corpus_path, *g_refused_path;
static record_list g_lines; /* every line of the corpus, in order */

static void load_inputs(void) {
    size_t len = 0;
    unsigned char *buf = read_file(g_corpus_path, &len);
    if (!buf) die(g_corpus_path);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || buf[i] == '\n') {
            if (i > start) list_push(&g_lines, (const char *)buf + start, i - start);
            start = i + 1;
        }
    }
    free(buf);
    FILE *f = fopen(g_refused_path, "r");
    if (!f) die(g_refused_path);
    char row[256];
    while (fgets(row, sizeof(row), f)) {
        if (row[0] == '#' || row[0] == '\n') continue;
        if (g_nrefused == MAX_REFUSED) break;
        if (sscanf(row, "%ld %63s", &g_refused[g_nrefused].line, g_refused[g_nrefused].reason) == 2)
            g_nrefused++;
    }
    fclose(f);
}

static const char *expected_reason(size_t line) {
    for (int i = 0; i < g_nrefused; i++)
        if (g_refused[i].line == (long)line) return g_refused[i].reason;
    return NULL;
}

static ot_agent *start_agent(const char *dir, const char *durability) {
    char *cfg = make_config(dir, durability, NULL);
    ot_agent *agent = NULL;
    ot_error *err = NULL;
    if (ot_agent_new(cfg, &agent, &err) != OT_STATUS_OK) {
        fprintf(stderr, "fatal: ot_agent_new: %s\n", ot_error_message(err));
        exit(2);
    }
    free(cfg);
    return agent;
}

/* Flushes, then compares stats and the delivered files with the accepted lines. */
static void check_delivery(ot_agent *agent, const char *dir, record_list *accepted) {
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_flush(agent, 120000, &err), OT_STATUS_OK, err);
    ot_error_free(err);
    ot_stats s;
    CHECK_STATUS(ot_agent_stats(agent, &s), OT_STATUS_OK, NULL);
    CHECK(s.records_accepted == accepted->n);
    CHECK(s.records_rejected == (uint64_t)g_nrefused);
    CHECK(s.records_delivered == accepted->n);
    CHECK(s.records_pending == 0);
    char *out = xasprintf("%s/out", dir);
    record_list got = {0};
    collect_delivered(out, &got);
    CHECK(got.files > 0 && got.files == s.files_delivered);
    CHECK(got.bad_files == 0);
    CHECK(same_records(&got, accepted));
    printf("  %zu records in %zu files, %llu bytes delivered\n", got.n, got.files,
           (unsigned long long)s.bytes_delivered);
    list_free(&got);
    free(out);
}

static void test_corpus_single_submits(void) {
    char *dir = make_tmpdir();
    ot_agent *agent = start_agent(dir, "memory");
    record_list accepted = {0};
    int refused = 0;
    for (size_t i = 0; i < g_lines.n; i++) {
        const char *want = expected_reason(i);
        ot_error *err = NULL;
        ot_status st = ot_agent_submit(agent, (const uint8_t *)g_lines.items[i].data,
                                       g_lines.items[i].len, &err);
        if (want) {
            CHECK_STATUS(st, OT_STATUS_INVALID_RECORD, err);
            const char *r = ot_error_reason(err);
            if (!r || strcmp(r, want) != 0) {
                fprintf(stderr, "  line %zu: reason %s, want %s\n", i, r ? r : "(null)", want);
                g_case_failed = 1;
            }
            refused++;
        } else {
            if (st != OT_STATUS_OK) fprintf(stderr, "  line %zu refused\n", i);
            CHECK_STATUS(st, OT_STATUS_OK, err);
            list_push(&accepted, g_lines.items[i].data, g_lines.items[i].len);
        }
        ot_error_free(err);
    }
    CHECK(refused == g_nrefused);
    CHECK(accepted.n + (size_t)refused == g_lines.n);
    check_delivery(agent, dir, &accepted);
    CHECK_STATUS(ot_agent_shutdown(agent, 30000, NULL), OT_STATUS_OK, NULL);
    ot_agent_free(agent);
    list_free(&accepted);
    rm_rf(dir);
}

static void test_corpus_one_batch(void) {
    char *dir = make_tmpdir();
    ot_agent *agent = start_agent(dir, "spool");
    size_t len = 0;
    unsigned char *all = read_file(g_corpus_path, &len);
    if (!all) die(g_corpus_path);
    size_t acc = 0;
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_submit_batch(agent, all, len, &acc, &err), OT_STATUS_INVALID_RECORD, err);
    CHECK(acc == g_lines.n - (size_t)g_nrefused);
    if (err && g_nrefused > 0) {
        char first[32];
        snprintf(first, sizeof(first), "line %ld:", g_refused[0].line);
        CHECK(strstr(ot_error_message(err), first) != NULL);
        CHECK(ot_error_reason(err) && strcmp(ot_error_reason(err), g_refused[0].reason) == 0);
    }
    ot_error_free(err);
    free(all);
    record_list accepted = {0};
    for (size_t i = 0; i < g_lines.n; i++)
        if (!expected_reason(i)) list_push(&accepted, g_lines.items[i].data, g_lines.items[i].len);
    check_delivery(agent, dir, &accepted);
    ot_agent_free(agent);
    list_free(&accepted);
    rm_rf(dir);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <records.jsonl> <corpus_refused.txt>\n", argv[0]);
        return 2;
    }
    g_corpus_path = argv[1];
    g_refused_path = argv[2];
    load_inputs();
    printf("corpus: %zu lines, %d expected refusals\n", g_lines.n, g_nrefused);
    if (g_lines.n < 3000 || g_nrefused == 0) {
        fprintf(stderr, "fatal: corpus or refusal list looks wrong\n");
        return 2;
    }
    RUN(test_corpus_single_submits);
    RUN(test_corpus_one_batch);
    list_free(&g_lines);
    return finish();
}
