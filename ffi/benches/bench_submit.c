/*
 * bench_submit.c — cost of ot_agent_submit / ot_agent_submit_batch from one C thread.
 *
 *   bench_submit <work-dir> [records=100000] [record-bytes=1200] [batch=1000] [single|batch|both]
 *                [memory-limit-mb=1024]
 *
 * Starts an agent (durability = "memory", local destination under <work-dir>), then for each
 * mode submits `records` records of `record-bytes` bytes (a pool of 1024 distinct records with
 * unique eventIDs, cycled) while the pipeline drains them (validation, WAL, batching, gzip,
 * delivery all run). Reports the submit phase (ns/record, records/s) and the end-to-end rate
 * including the final ot_agent_flush. A fresh agent and data dir is used per mode.
 *
 * "Into the queue": a quarter of memory-limit-mb holds submitted records until the batcher takes
 * them, so with the defaults (256 MB of queue, 100,000 × 1.2 KB = 120 MB) the submit phase
 * measures submit cost, not how fast the pipeline drains; records beyond the queue wait for the
 * pipeline (BUSY after submit_timeout_ms). The submit thread's CPU time (CLOCK_THREAD_CPUTIME_ID)
 * is reported too: unlike wall time it does not grow when other processes or the pipeline's own
 * threads take the cores.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "opentrail.h"

#define POOL 1024

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }
static double thread_cpu(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }
/* The kernel's share of the thread's CPU time (page faults: zeroing fresh memory). */
static double thread_sys(void) {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static unsigned long memory_limit_mb = 1024;
/* OT_BENCH_NICE overrides the agent's background_nice (default 10) to compare priorities. */
static int background_nice = 10;

static size_t make_record(char *buf, unsigned long n, size_t size) {
    int len = snprintf(buf, size + 1,
                       "{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"IAMUser\","
                       "\"principalId\":\"AIDAEXAMPLE\",\"arn\":\"arn:aws:iam::123456789012:user/alice\","
                       "\"accountId\":\"123456789012\",\"userName\":\"alice\"},"
                       "\"eventTime\":\"2024-05-01T12:00:00Z\",\"eventSource\":\"s3.amazonaws.com\","
                       "\"eventName\":\"GetObject\",\"awsRegion\":\"eu-west-1\","
                       "\"sourceIPAddress\":\"203.0.113.7\",\"userAgent\":\"aws-cli/2.15\","
                       "\"requestParameters\":{\"bucketName\":\"data\",\"key\":\"k/%lu\"},"
                       "\"responseElements\":null,\"eventType\":\"AwsApiCall\","
                       "\"recipientAccountId\":\"123456789012\","
                       "\"eventID\":\"%08lx-0000-4000-8000-%012lx\",\"pad\":\"",
                       n, n, n);
    size_t l = (size_t)len;
    while (l < size - 2) buf[l++] = 'x';
    buf[l++] = '"';
    buf[l++] = '}';
    buf[l] = 0;
    return l;
}

static ot_agent *start(const char *dir, const char *mode) {
    char cfg[2048];
    snprintf(cfg, sizeof(cfg),
             "data_dir = \"%s/%s/data\"\naccount_id = \"123456789012\"\n"
             "durability = \"memory\"\nsubmit_timeout_ms = 60000\nmemory_limit_mb = %lu\n"
             "background_nice = %d\n"
             "[storage]\nlocal_root = \"%s/%s/out\"\n"
             "[[trails]]\nname = \"main\"\ns3_bucket_name = \"audit-logs\"\n"
             "is_multi_region_trail = true\n",
             dir, mode, memory_limit_mb, background_nice, dir, mode);
    ot_agent *agent = NULL;
    ot_error *err = NULL;
    if (ot_agent_new(cfg, &agent, &err) != OT_STATUS_OK) {
        fprintf(stderr, "ot_agent_new: %s\n", ot_error_message(err));
        exit(1);
    }
    return agent;
}

static void finish(ot_agent *agent, const char *mode, unsigned long n, double t0, double t1,
                   double cpu, double sys) {
    ot_error *err = NULL;
    if (ot_agent_flush(agent, 600000, &err) != OT_STATUS_OK) {
        fprintf(stderr, "flush: %s\n", ot_error_message(err));
        exit(1);
    }
    double t2 = now();
    ot_stats s;
    ot_agent_stats(agent, &s);
    if (s.records_delivered != n) {
        fprintf(stderr, "%s: delivered %llu of %lu\n", mode, (unsigned long long)s.records_delivered, n);
        exit(1);
    }
    printf("%-7s %9lu records  submit %6.0f ns/record %9.0f records/s  submit-thread CPU %6.0f "
           "ns/record (of which kernel %4.0f; %9.0f records/s per CPU-s)  end-to-end (with flush) "
           "%9.0f records/s  %llu files\n",
           mode, n, (t1 - t0) * 1e9 / (double)n, (double)n / (t1 - t0), cpu * 1e9 / (double)n,
           sys * 1e9 / (double)n, (double)n / cpu, (double)n / (t2 - t0),
           (unsigned long long)s.files_delivered);
    ot_agent_shutdown(agent, 60000, NULL);
    ot_agent_free(agent);
}

static void bench_single(const char *dir, unsigned long n, const char *pool, const size_t *lens,
                         size_t size) {
    ot_agent *agent = start(dir, "single");
    ot_error *err = NULL;
    double c0 = thread_cpu(), s0 = thread_sys(), t0 = now();
    for (unsigned long i = 0; i < n; i++) {
        size_t k = i % POOL;
        if (ot_agent_submit(agent, (const uint8_t *)pool + k * (size + 1), lens[k], &err)) {
            fprintf(stderr, "submit: %s\n", ot_error_message(err));
            exit(1);
        }
    }
    double t1 = now();
    finish(agent, "single", n, t0, t1, thread_cpu() - c0, thread_sys() - s0);
}

static void bench_batch(const char *dir, unsigned long n, const char *pool, const size_t *lens,
                        size_t size, size_t batch) {
    char *lines = malloc(batch * (size + 1));
    size_t blen = 0;
    for (size_t i = 0; i < batch; i++) {
        size_t k = i % POOL;
        memcpy(lines + blen, pool + k * (size + 1), lens[k]);
        blen += lens[k];
        lines[blen++] = '\n';
    }
    ot_agent *agent = start(dir, "batch");
    ot_error *err = NULL;
    unsigned long done = 0;
    double c0 = thread_cpu(), s0 = thread_sys(), t0 = now();
    while (done < n) {
        size_t acc = 0;
        if (ot_agent_submit_batch(agent, (const uint8_t *)lines, blen, &acc, &err)) {
            fprintf(stderr, "submit_batch: %s\n", ot_error_message(err));
            exit(1);
        }
        done += acc;
    }
    double t1 = now();
    finish(agent, "batch", done, t0, t1, thread_cpu() - c0, thread_sys() - s0);
    free(lines);
}

/* The ABI's own cost: pointer checks, the poison check, catch_unwind and the status, around
 * the cheapest agent call (ot_agent_stats: six relaxed atomic loads and a sum of 13). */
static void bench_overhead(const char *dir) {
    const unsigned long calls = 5000000UL;
    ot_agent *agent = start(dir, "overhead");
    ot_stats s;
    double t0 = now();
    for (unsigned long i = 0; i < calls; i++) {
        if (ot_agent_stats(agent, &s) != OT_STATUS_OK) exit(1);
    }
    double t1 = now();
    printf("boundary: %.1f ns/call (ot_agent_stats)\n", (t1 - t0) * 1e9 / (double)calls);
    ot_agent_free(agent);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s <work-dir> [records] [record-bytes] [batch] [single|batch|both] "
                "[memory-limit-mb]\n",
                argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
    size_t size = argc > 3 ? strtoul(argv[3], NULL, 10) : 1200;
    size_t batch = argc > 4 ? strtoul(argv[4], NULL, 10) : 1000;
    const char *modes = argc > 5 ? argv[5] : "both";
    if (argc > 6) memory_limit_mb = strtoul(argv[6], NULL, 10);
    const char *nice = getenv("OT_BENCH_NICE");
    if (nice) background_nice = atoi(nice);
    int run_single = strcmp(modes, "batch") != 0, run_batch = strcmp(modes, "single") != 0;
    char *pool = malloc(POOL * (size + 1));
    size_t *lens = malloc(POOL * sizeof(size_t));
    for (unsigned long i = 0; i < POOL; i++) lens[i] = make_record(pool + i * (size + 1), i, size);
    printf("%s, %zu-byte records, batch %zu, memory_limit_mb %lu\n", ot_version(), lens[0], batch,
           memory_limit_mb);

    bench_overhead(dir);
    if (run_single) bench_single(dir, n, pool, lens, size);
    if (run_batch) bench_batch(dir, n, pool, lens, size, batch);
    free(pool);
    free(lens);
    return 0;
}
