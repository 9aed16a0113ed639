/*
 * test_api.c — the C ABI, call by call, including misuse: NULL pointers, invalid UTF-8 and
 * JSON, oversize records, calls after shutdown, NULL-safe frees, and concurrent use from
 * several threads. Built with -Wall -Wextra -Werror and run under valgrind or ASan by
 * ffi/tests/c_suite.rs. Prints "N passed, N failed"; exit status 0 only when all passed.
 */
#include <pthread.h>

#include "common.h"

#define REC_CAP 4096

/* A started agent in a fresh temporary folder. */
typedef struct {
    char *dir;
    char *out;
    ot_agent *agent;
} fixture;

static fixture start(const char *durability, const char *extra) {
    fixture f;
    f.dir = make_tmpdir();
    f.out = xasprintf("%s/out", f.dir);
    char *cfg = make_config(f.dir, durability, extra);
    ot_error *err = NULL;
    f.agent = NULL;
    ot_status st = ot_agent_new(cfg, &f.agent, &err);
    if (st != OT_STATUS_OK) {
        fprintf(stderr, "fatal: ot_agent_new: %s\n", ot_error_message(err));
        exit(2);
    }
    free(cfg);
    return f;
}

static void stop(fixture *f) {
    ot_agent_free(f->agent);
    f->agent = NULL;
    free(f->out);
    rm_rf(f->dir);
}

static ot_stats stats_of(const ot_agent *agent) {
    ot_stats s;
    memset(&s, 0xff, sizeof(s));
    ot_status st = ot_agent_stats(agent, &s);
    CHECK_STATUS(st, OT_STATUS_OK, NULL);
    return s;
}

/* ---------- version and status ---------- */

static void test_version(void) {
    const char *v = ot_version();
    CHECK(v != NULL);
    char want[64];
    snprintf(want, sizeof(want), "opentrail-ffi/%d.%d.%d", OT_VERSION_MAJOR, OT_VERSION_MINOR,
             OT_VERSION_PATCH);
    CHECK(strcmp(v, want) == 0);
    CHECK(ot_abi_version() == OT_ABI_VERSION);
    CHECK(OT_VERSION_NUMBER ==
          OT_VERSION_MAJOR * 1000000 + OT_VERSION_MINOR * 1000 + OT_VERSION_PATCH);
}

static void test_status_str(void) {
    const ot_status all[] = {
        OT_STATUS_OK,           OT_STATUS_NULL_PARAMETER, OT_STATUS_INVALID_UTF8,
        OT_STATUS_CONFIG_PARSE, OT_STATUS_CONFIG_INVALID, OT_STATUS_DATA_DIR_LOCKED,
        OT_STATUS_START_FAILED, OT_STATUS_INVALID_RECORD, OT_STATUS_BUSY,
        OT_STATUS_CLOSED,       OT_STATUS_TIMEOUT,        OT_STATUS_SPOOL_FAILED,
        OT_STATUS_DESTINATION_FAILED, OT_STATUS_PANIC,   OT_STATUS_POISONED,
    };
    CHECK(OT_STATUS_OK == 0);
    CHECK(sizeof(ot_status) == 4);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        const char *s = ot_status_str(all[i]);
        CHECK(s != NULL && *s != 0);
        CHECK(strcmp(s, "unknown status") != 0);
    }
    CHECK(strcmp(ot_status_str((ot_status)12345), "unknown status") == 0);
    CHECK(strcmp(ot_status_str((ot_status)0xffffffffu), "unknown status") == 0);
}

/* ---------- ot_agent_new ---------- */

static void test_new_null_parameters(void) {
    ot_agent *agent = (ot_agent *)(uintptr_t)1; /* must stay untouched on failure */
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_new(NULL, &agent, &err), OT_STATUS_NULL_PARAMETER, err);
    CHECK(err != NULL);
    CHECK(ot_error_status(err) == OT_STATUS_NULL_PARAMETER);
    CHECK(strstr(ot_error_message(err), "config_toml") != NULL);
    CHECK(ot_error_reason(err) == NULL);
    CHECK(agent == (ot_agent *)(uintptr_t)1);
    ot_error_free(err);
    err = NULL;
    CHECK_STATUS(ot_agent_new("x = 1", NULL, &err), OT_STATUS_NULL_PARAMETER, err);
    CHECK(err != NULL && strstr(ot_error_message(err), "agent_out") != NULL);
    ot_error_free(err);
    /* error_out may be NULL */
    CHECK_STATUS(ot_agent_new(NULL, NULL, NULL), OT_STATUS_NULL_PARAMETER, NULL);
}

static void test_new_invalid_utf8(void) {
    ot_agent *agent = NULL;
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_new("data_dir = \"\xff\xfe\"\n", &agent, &err), OT_STATUS_INVALID_UTF8,
                 err);
    CHECK(agent == NULL);
    CHECK(err != NULL && ot_error_status(err) == OT_STATUS_INVALID_UTF8);
    ot_error_free(err);
}

static void test_new_bad_config(void) {
    char *dir = make_tmpdir();
    struct {
        const char *extra;
        ot_status want;
        const char *mentions;
    } cases[] = {
        {"this is [not toml\n", OT_STATUS_CONFIG_PARSE, NULL},
        {"bogus_key = 1\n", OT_STATUS_CONFIG_PARSE, "bogus_key"},
        {"max_record_bytes = 1\n", OT_STATUS_CONFIG_INVALID, "max_record_bytes"},
        {"memory_limit_mb = 1\n", OT_STATUS_CONFIG_INVALID, "memory_limit_mb"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *cfg = make_config(dir, "memory", cases[i].extra);
        ot_agent *agent = NULL;
        ot_error *err = NULL;
        CHECK_STATUS(ot_agent_new(cfg, &agent, &err), cases[i].want, err);
        CHECK(agent == NULL);
        CHECK(err != NULL);
        if (err && cases[i].mentions) CHECK(strstr(ot_error_message(err), cases[i].mentions));
        ot_error_free(err);
        free(cfg);
    }
    /* An invalid trail: the message names the key. */
    char *cfg = xasprintf("durability = \"memory\"\n[storage]\nlocal_root = \"%s/out\"\n"
                          "[[trails]]\nname = \"main\"\ns3_bucket_name = \"../etc\"\n",
                          dir);
    ot_agent *agent = NULL;
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_new(cfg, &agent, &err), OT_STATUS_CONFIG_INVALID, err);
    CHECK(err && strstr(ot_error_message(err), "s3_bucket_name"));
    ot_error_free(err);
    free(cfg);
    rm_rf(dir);
}

static void test_data_dir_locked(void) {
    fixture f = start("memory", NULL);
    char *cfg = make_config(f.dir, "memory", NULL);
    ot_agent *second = NULL;
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_new(cfg, &second, &err), OT_STATUS_DATA_DIR_LOCKED, err);
    CHECK(second == NULL);
    ot_error_free(err);
    free(cfg);
    stop(&f);
}

/* ---------- submit ---------- */

static void test_submit_flush_deliver(void) {
    fixture f = start("spool", NULL);
    char rec[REC_CAP];
    size_t len = make_record(rec, sizeof(rec), 1, 0);
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_submit(f.agent, (const uint8_t *)rec, len, &err), OT_STATUS_OK, err);
    CHECK(err == NULL); /* not written on success */
    CHECK_STATUS(ot_agent_flush(f.agent, 30000, &err), OT_STATUS_OK, err);
    ot_stats s = stats_of(f.agent);
    CHECK(s.records_accepted == 1);
    CHECK(s.records_rejected == 0);
    CHECK(s.records_delivered == 1);
    CHECK(s.records_pending == 0);
    CHECK(s.files_delivered == 1);
    CHECK(s.bytes_delivered > 0);
    record_list got = {0};
    collect_delivered(f.out, &got);
    CHECK(got.files == 1 && got.bad_files == 0 && got.n == 1);
    if (got.n == 1) CHECK(got.items[0].len == len && memcmp(got.items[0].data, rec, len) == 0);
    list_free(&got);
    CHECK_STATUS(ot_agent_shutdown(f.agent, 30000, &err), OT_STATUS_OK, err);
    stop(&f);
}

static void expect_invalid(ot_agent *agent, const char *rec, size_t len, const char *reason) {
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_submit(agent, (const uint8_t *)rec, len, &err), OT_STATUS_INVALID_RECORD,
                 err);
    CHECK(err != NULL);
    if (!err) return;
    CHECK(ot_error_status(err) == OT_STATUS_INVALID_RECORD);
    const char *r = ot_error_reason(err);
    CHECK(r != NULL);
    if (r && reason && strcmp(r, reason) != 0) {
        fprintf(stderr, "  reason %s, want %s (%s)\n", r, reason, ot_error_message(err));
        g_case_failed = 1;
    }
    CHECK(strlen(ot_error_message(err)) > 0);
    ot_error_free(err);
}

static void test_submit_invalid(void) {
    fixture f = start("memory", NULL);
    expect_invalid(f.agent, "{\"eventName\": ", 14, "invalid_json");
    expect_invalid(f.agent, "not json at all", 15, "not_an_object");
    expect_invalid(f.agent, "[1,2,3]", 7, "not_an_object");
    expect_invalid(f.agent, "{}", 2, "missing_field");
    /* invalid UTF-8 inside an otherwise valid record */
    char rec[REC_CAP];
    size_t len = make_record(rec, sizeof(rec), 2, 0);
    char *p = strstr(rec, "alice");
    p[0] = (char)0xff;
    p[1] = (char)0xfe;
    expect_invalid(f.agent, rec, len, "invalid_utf8");
    /* an embedded NUL is just an invalid byte, not a terminator */
    len = make_record(rec, sizeof(rec), 3, 0);
    strstr(rec, "alice")[0] = '\0';
    expect_invalid(f.agent, rec, len, NULL);
    /* empty record, NULL with length 0 */
    expect_invalid(f.agent, NULL, 0, NULL);
    expect_invalid(f.agent, "   \n", 4, NULL);
    ot_stats s = stats_of(f.agent);
    CHECK(s.records_accepted == 0);
    CHECK(s.records_rejected == 8);
    stop(&f);
}

static void test_submit_null_parameters(void) {
    fixture f = start("memory", NULL);
    char rec[REC_CAP];
    size_t len = make_record(rec, sizeof(rec), 4, 0);
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_submit(NULL, (const uint8_t *)rec, len, &err), OT_STATUS_NULL_PARAMETER,
                 err);
    CHECK(err && ot_error_status(err) == OT_STATUS_NULL_PARAMETER);
    ot_error_free(err);
    err = NULL;
    CHECK_STATUS(ot_agent_submit(f.agent, NULL, 10, &err), OT_STATUS_NULL_PARAMETER, err);
    CHECK(err && strstr(ot_error_message(err), "record"));
    ot_error_free(err);
    /* error_out NULL everywhere */
    CHECK_STATUS(ot_agent_submit(NULL, NULL, 0, NULL), OT_STATUS_NULL_PARAMETER, NULL);
    CHECK_STATUS(ot_agent_submit(f.agent, (const uint8_t *)"{", 1, NULL), OT_STATUS_INVALID_RECORD,
                 NULL);
    CHECK_STATUS(ot_agent_submit(f.agent, (const uint8_t *)rec, len, NULL), OT_STATUS_OK, NULL);
    size_t acc = 99;
    CHECK_STATUS(ot_agent_submit_batch(NULL, (const uint8_t *)rec, len, &acc, NULL),
                 OT_STATUS_NULL_PARAMETER, NULL);
    CHECK(acc == 0);
    acc = 99;
    CHECK_STATUS(ot_agent_submit_batch(f.agent, NULL, 5, &acc, NULL), OT_STATUS_NULL_PARAMETER,
                 NULL);
    CHECK(acc == 0);
    CHECK_STATUS(ot_agent_flush(NULL, 1000, NULL), OT_STATUS_NULL_PARAMETER, NULL);
    CHECK_STATUS(ot_agent_shutdown(NULL, 1000, NULL), OT_STATUS_NULL_PARAMETER, NULL);
    ot_stats s;
    CHECK_STATUS(ot_agent_stats(NULL, &s), OT_STATUS_NULL_PARAMETER, NULL);
    CHECK_STATUS(ot_agent_stats(f.agent, NULL), OT_STATUS_NULL_PARAMETER, NULL);
    stop(&f);
}

static void test_oversize(void) {
    fixture f = start("memory", "max_record_bytes = 2048\n");
    char rec[REC_CAP];
    ot_error *err = NULL;
    size_t len = make_record(rec, sizeof(rec), 5, 2048);
    CHECK(len == 2048);
    CHECK_STATUS(ot_agent_submit(f.agent, (const uint8_t *)rec, len, &err), OT_STATUS_OK, err);
    len = make_record(rec, sizeof(rec), 6, 2049);
    CHECK(len == 2049);
    expect_invalid(f.agent, rec, len, "oversize");
    /* a length no real buffer can have is refused before anything reads it */
    CHECK_STATUS(ot_agent_submit(f.agent, (const uint8_t *)rec, SIZE_MAX, &err),
                 OT_STATUS_INVALID_RECORD, err);
    ot_error_free(err);
    stop(&f);
}

/* ---------- submit_batch ---------- */

static void test_batch(void) {
    fixture f = start("spool", NULL);
    char a[REC_CAP], b[REC_CAP], c[REC_CAP];
    size_t la = make_record(a, sizeof(a), 10, 0), lb = make_record(b, sizeof(b), 11, 0),
           lc = make_record(c, sizeof(c), 12, 0);
    /* line 0 valid, 1 invalid JSON, 2 blank, 3 valid with CRLF, 4 invalid (no eventSource) */
    char *batch = xasprintf("%s\n{\"broken\n\n%s\r\n{\"eventName\":\"X\"}\n", a, b);
    size_t acc = 99;
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_submit_batch(f.agent, (const uint8_t *)batch, strlen(batch), &acc, &err),
                 OT_STATUS_INVALID_RECORD, err);
    CHECK(acc == 2);
    CHECK(err != NULL);
    if (err) {
        const char *m = ot_error_message(err);
        CHECK(strstr(m, "line 1") != NULL);
        CHECK(strstr(m, "line 4") != NULL);
        CHECK(strstr(m, "2 of 4") != NULL);
        CHECK(ot_error_reason(err) && strcmp(ot_error_reason(err), "invalid_json") == 0);
    }
    ot_error_free(err);
    err = NULL;
    /* all valid: OK, accepted_out may be NULL */
    CHECK_STATUS(ot_agent_submit_batch(f.agent, (const uint8_t *)c, lc, NULL, &err), OT_STATUS_OK,
                 err);
    /* empty input */
    acc = 99;
    CHECK_STATUS(ot_agent_submit_batch(f.agent, NULL, 0, &acc, &err), OT_STATUS_OK, err);
    CHECK(acc == 0);
    /* every line refused */
    acc = 99;
    CHECK_STATUS(ot_agent_submit_batch(f.agent, (const uint8_t *)"x\ny\n", 4, &acc, &err),
                 OT_STATUS_INVALID_RECORD, err);
    CHECK(acc == 0);
    ot_error_free(err);
    err = NULL;
    CHECK_STATUS(ot_agent_flush(f.agent, 30000, &err), OT_STATUS_OK, err);
    ot_stats s = stats_of(f.agent);
    CHECK(s.records_accepted == 3);
    CHECK(s.records_rejected == 4);
    CHECK(s.records_delivered == 3);
    record_list got = {0}, want = {0};
    collect_delivered(f.out, &got);
    list_push(&want, a, la);
    list_push(&want, b, lb);
    list_push(&want, c, lc);
    CHECK(got.bad_files == 0);
    CHECK(same_records(&got, &want));
    list_free(&got);
    list_free(&want);
    free(batch);
    stop(&f);
}

/* ---------- lifecycle ---------- */

static void test_after_shutdown(void) {
    fixture f = start("memory", NULL);
    char rec[REC_CAP];
    size_t len = make_record(rec, sizeof(rec), 20, 0);
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_submit(f.agent, (const uint8_t *)rec, len, &err), OT_STATUS_OK, err);
    CHECK_STATUS(ot_agent_shutdown(f.agent, 30000, &err), OT_STATUS_OK, err);
    /* shutdown drained everything */
    ot_stats s = stats_of(f.agent);
    CHECK(s.records_delivered == 1 && s.records_pending == 0);
    CHECK_STATUS(ot_agent_submit(f.agent, (const uint8_t *)rec, len, &err), OT_STATUS_CLOSED, err);
    CHECK(err && ot_error_status(err) == OT_STATUS_CLOSED);
    ot_error_free(err);
    err = NULL;
    size_t acc = 99;
    CHECK_STATUS(ot_agent_submit_batch(f.agent, (const uint8_t *)rec, len, &acc, &err),
                 OT_STATUS_CLOSED, err);
    CHECK(acc == 0);
    ot_error_free(err);
    err = NULL;
    CHECK_STATUS(ot_agent_flush(f.agent, 1000, &err), OT_STATUS_CLOSED, err);
    ot_error_free(err);
    err = NULL;
    /* idempotent */
    CHECK_STATUS(ot_agent_shutdown(f.agent, 1000, &err), OT_STATUS_OK, err);
    CHECK_STATUS(ot_agent_shutdown(f.agent, OT_TIMEOUT_DEFAULT, &err), OT_STATUS_OK, err);
    stop(&f);
}

static void test_free_without_shutdown_delivers(void) {
    fixture f = start("memory", NULL);
    char rec[REC_CAP];
    for (unsigned long i = 0; i < 50; i++) {
        size_t len = make_record(rec, sizeof(rec), 100 + i, 0);
        CHECK_STATUS(ot_agent_submit(f.agent, (const uint8_t *)rec, len, NULL), OT_STATUS_OK, NULL);
    }
    ot_agent_free(f.agent);
    f.agent = NULL;
    record_list got = {0};
    collect_delivered(f.out, &got);
    CHECK(got.n == 50);
    list_free(&got);
    stop(&f);
}

static void test_null_safe_frees(void) {
    ot_agent_free(NULL);
    ot_error_free(NULL);
    CHECK(ot_error_status(NULL) == OT_STATUS_NULL_PARAMETER);
    CHECK(ot_error_message(NULL) != NULL && ot_error_message(NULL)[0] == 0);
    CHECK(ot_error_reason(NULL) == NULL);
    /* The documented pattern: free, then NULL the pointer, so a second free is a no-op. */
    ot_error *err = NULL;
    ot_agent_new(NULL, NULL, &err);
    ot_error_free(err);
    err = NULL;
    ot_error_free(err);
    fixture f = start("memory", NULL);
    ot_agent_free(f.agent);
    f.agent = NULL;
    ot_agent_free(f.agent);
    stop(&f);
}

static void test_restart_same_data_dir(void) {
    /* After free, the data dir lock is released and a new agent can start on it. */
    fixture f = start("spool", NULL);
    char rec[REC_CAP];
    size_t len = make_record(rec, sizeof(rec), 30, 0);
    CHECK_STATUS(ot_agent_submit(f.agent, (const uint8_t *)rec, len, NULL), OT_STATUS_OK, NULL);
    ot_agent_free(f.agent);
    char *cfg = make_config(f.dir, "spool", NULL);
    ot_error *err = NULL;
    f.agent = NULL;
    CHECK_STATUS(ot_agent_new(cfg, &f.agent, &err), OT_STATUS_OK, err);
    free(cfg);
    stop(&f);
}

/* ---------- threads ---------- */

#define THREADS 4
#define PER_THREAD 300

typedef struct {
    ot_agent *agent;
    unsigned long base;
    int ok, closed, other;
} worker_arg;

static void *submit_worker(void *p) {
    worker_arg *w = p;
    char rec[REC_CAP];
    for (unsigned long i = 0; i < PER_THREAD; i++) {
        size_t len = make_record(rec, sizeof(rec), w->base + i, 0);
        ot_error *err = NULL;
        ot_status st;
        if (i % 10 == 9) { /* every tenth as a one-line batch */
            size_t acc = 0;
            st = ot_agent_submit_batch(w->agent, (const uint8_t *)rec, len, &acc, &err);
            if (st == OT_STATUS_OK && acc != 1) w->other++;
        } else {
            st = ot_agent_submit(w->agent, (const uint8_t *)rec, len, &err);
        }
        if (st == OT_STATUS_OK) w->ok++;
        else if (st == OT_STATUS_CLOSED) w->closed++;
        else {
            fprintf(stderr, "  thread: %s\n", ot_error_message(err));
            w->other++;
        }
        if ((st == OT_STATUS_OK) != (err == NULL)) w->other++;
        ot_error_free(err);
        if (i % 100 == 50) {
            ot_stats s;
            if (ot_agent_stats(w->agent, &s) != OT_STATUS_OK) w->other++;
        }
    }
    return NULL;
}

static void *flush_worker(void *p) {
    worker_arg *w = p;
    for (int i = 0; i < 5; i++) {
        ot_status st = ot_agent_flush(w->agent, 30000, NULL);
        if (st == OT_STATUS_OK) w->ok++;
        else if (st == OT_STATUS_CLOSED) w->closed++;
        else w->other++;
    }
    return NULL;
}

static void test_concurrent_submit_flush_stats(void) {
    fixture f = start("memory", NULL);
    pthread_t t[THREADS + 1];
    worker_arg args[THREADS + 1];
    memset(args, 0, sizeof(args));
    for (int i = 0; i < THREADS; i++) {
        args[i].agent = f.agent;
        args[i].base = 1000000UL * (unsigned long)(i + 1);
        if (pthread_create(&t[i], NULL, submit_worker, &args[i])) die("pthread_create");
    }
    args[THREADS].agent = f.agent;
    if (pthread_create(&t[THREADS], NULL, flush_worker, &args[THREADS])) die("pthread_create");
    for (int i = 0; i <= THREADS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        CHECK(args[i].ok == PER_THREAD);
        CHECK(args[i].other == 0);
    }
    CHECK(args[THREADS].ok == 5);
    CHECK_STATUS(ot_agent_flush(f.agent, 30000, NULL), OT_STATUS_OK, NULL);
    ot_stats s = stats_of(f.agent);
    CHECK(s.records_accepted == THREADS * PER_THREAD);
    CHECK(s.records_delivered == THREADS * PER_THREAD);
    record_list got = {0};
    collect_delivered(f.out, &got);
    CHECK(got.n == THREADS * PER_THREAD && got.bad_files == 0);
    list_free(&got);
    stop(&f);
}

static void test_shutdown_races_submit(void) {
    fixture f = start("memory", NULL);
    pthread_t t[THREADS];
    worker_arg args[THREADS];
    memset(args, 0, sizeof(args));
    for (int i = 0; i < THREADS; i++) {
        args[i].agent = f.agent;
        args[i].base = 9000000UL * (unsigned long)(i + 1);
        if (pthread_create(&t[i], NULL, submit_worker, &args[i])) die("pthread_create");
    }
    usleep(2000);
    ot_error *err = NULL;
    CHECK_STATUS(ot_agent_shutdown(f.agent, 30000, &err), OT_STATUS_OK, err);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    unsigned long ok = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK(args[i].other == 0); /* only OK or CLOSED */
        CHECK(args[i].ok + args[i].closed == PER_THREAD);
        ok += (unsigned long)args[i].ok;
    }
    /* Every record that got OK before shutdown finished is delivered. */
    ot_stats s = stats_of(f.agent);
    CHECK(s.records_accepted == ok);
    CHECK(s.records_delivered == ok);
    CHECK(s.records_pending == 0);
    record_list got = {0};
    collect_delivered(f.out, &got);
    CHECK(got.n == ok);
    if (g_case_failed)
        fprintf(stderr, "  ok %lu, accepted %llu, delivered %llu (%zu in files), pending %llu\n", ok,
                (unsigned long long)s.records_accepted, (unsigned long long)s.records_delivered,
                got.n, (unsigned long long)s.records_pending);
    list_free(&got);
    stop(&f);
}

int main(void) {
    RUN(test_version);
    RUN(test_status_str);
    RUN(test_new_null_parameters);
    RUN(test_new_invalid_utf8);
    RUN(test_new_bad_config);
    RUN(test_data_dir_locked);
    RUN(test_submit_flush_deliver);
    RUN(test_submit_invalid);
    RUN(test_submit_null_parameters);
    RUN(test_oversize);
    RUN(test_batch);
    RUN(test_after_shutdown);
    RUN(test_free_without_shutdown_delivers);
    RUN(test_null_safe_frees);
    RUN(test_restart_same_data_dir);
    RUN(test_concurrent_submit_flush_stats);
    RUN(test_shutdown_races_submit);
    return finish();
}
