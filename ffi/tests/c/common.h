/*
 * common.h — helpers shared by the C test programs: a tiny test runner, temporary folders,
 * agent configs, test records, and reading back delivered CloudTrail log files (gzip via zlib).
 * Everything is `static inline` so each test program is a single translation unit.
 */
#ifndef OT_TEST_COMMON_H
#define OT_TEST_COMMON_H

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "opentrail.h"

/* ---------- runner ---------- */

static int g_passed, g_failed, g_case_failed;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
            g_case_failed = 1;                                                               \
        }                                                                                    \
    } while (0)

/* Checks a status; on mismatch prints both and the error message when there is one. */
#define CHECK_STATUS(got, want, err)                                                         \
    do {                                                                                     \
        ot_status got_ = (got);                                                              \
        if (got_ != (ot_status)(want)) {                                                     \
            fprintf(stderr, "  %s:%d: status %u (%s), want %u: %s\n", __FILE__, __LINE__,    \
                    (unsigned)got_, ot_status_str(got_), (unsigned)(want),                   \
                    (err) ? ot_error_message(err) : "(no error object)");                    \
            g_case_failed = 1;                                                               \
        }                                                                                    \
    } while (0)

#define RUN(test)                                                                            \
    do {                                                                                     \
        g_case_failed = 0;                                                                   \
        test();                                                                              \
        if (g_case_failed) {                                                                 \
            g_failed++;                                                                      \
            printf("FAIL %s\n", #test);                                                      \
        } else {                                                                             \
            g_passed++;                                                                      \
            printf("ok   %s\n", #test);                                                      \
        }                                                                                    \
        fflush(stdout);                                                                      \
    } while (0)

static inline int finish(void) {
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}

static inline void die(const char *what) {
    fprintf(stderr, "fatal: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* ---------- strings and files ---------- */

static inline char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *buf = malloc((size_t)n + 1);
    if (!buf) die("malloc");
    va_start(ap, fmt);
    vsnprintf(buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return buf;
}

static inline unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) die("malloc");
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) die("realloc");
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static inline char *make_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char *tmpl = xasprintf("%s/ot-ctest-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpl)) die("mkdtemp");
    return tmpl;
}

static inline int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void rm_rf(char *path) {
    if (path) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

/* A config delivering to <dir>/out with data in <dir>/data; `extra` is appended to the top-level
 * keys (e.g. "max_record_bytes = 2048\n"). Caller frees. */
static inline char *make_config(const char *dir, const char *durability, const char *extra) {
    return xasprintf("data_dir = \"%s/data\"\n"
                     "account_id = \"123456789012\"\n"
                     "durability = \"%s\"\n"
                     "%s"
                     "[storage]\n"
                     "local_root = \"%s/out\"\n"
                     "[[trails]]\n"
                     "name = \"main\"\n"
                     "s3_bucket_name = \"audit-logs\"\n"
                     "is_multi_region_trail = true\n"
                     "delivery_interval_secs = 300\n",
                     dir, durability, extra ? extra : "", dir);
}

/* Writes a valid CloudTrail record with a unique eventID derived from `n` into `buf` (at
 * least `cap` bytes), padded with a "pad" member so that it is exactly `size` bytes when
 * size > the natural length. Returns its length. */
static inline size_t make_record(char *buf, size_t cap, unsigned long n, size_t size) {
    const char *head = "{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"IAMUser\","
                       "\"accountId\":\"123456789012\",\"userName\":\"alice\"},"
                       "\"eventTime\":\"2024-05-01T12:00:00Z\",\"eventSource\":\"s3.amazonaws.com\","
                       "\"eventName\":\"GetObject\",\"awsRegion\":\"eu-west-1\","
                       "\"sourceIPAddress\":\"203.0.113.7\",\"eventType\":\"AwsApiCall\","
                       "\"recipientAccountId\":\"123456789012\",";
    int n0 = snprintf(buf, cap, "%s\"eventID\":\"%08lx-0000-4000-8000-%012lx\"", head,
                      (n >> 16) & 0xffffffffUL, n);
    size_t len = (size_t)n0;
    const size_t pad_overhead = strlen(",\"pad\":\"\"}");
    if (size > len + pad_overhead) {
        size_t pad = size - len - pad_overhead;
        if (size + 1 > cap) die("make_record: buffer too small");
        memcpy(buf + len, ",\"pad\":\"", 8);
        len += 8;
        memset(buf + len, 'x', pad);
        len += pad;
        memcpy(buf + len, "\"}", 3);
        len += 2;
    } else {
        memcpy(buf + len, "}", 2);
        len += 1;
    }
    return len;
}

/* ---------- delivered files ---------- */

typedef struct {
    char *data;
    size_t len;
} slice;

typedef struct {
    slice *items;
    size_t n, cap;
    size_t files;
    size_t bad_files; /* not single-member gzip, bad JSON envelope, or bad path */
} record_list;

static inline void list_push(record_list *l, const char *p, size_t len) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->items = realloc(l->items, l->cap * sizeof(slice));
        if (!l->items) die("realloc");
    }
    char *copy = malloc(len + 1);
    if (!copy) die("malloc");
    memcpy(copy, p, len);
    copy[len] = 0;
    l->items[l->n].data = copy;
    l->items[l->n].len = len;
    l->n++;
}

static inline void list_free(record_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i].data);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* Inflates a whole single-member gzip file; returns NULL if it is not exactly one member. */
static inline unsigned char *gunzip_single(const unsigned char *in, size_t in_len, size_t *out_len) {
    z_stream s;
    memset(&s, 0, sizeof(s));
    if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) return NULL;
    size_t cap = in_len * 8 + 1024, n = 0;
    unsigned char *out = malloc(cap);
    if (!out) die("malloc");
    s.next_in = (unsigned char *)in;
    s.avail_in = (uInt)in_len;
    int rc;
    do {
        if (n == cap) {
            cap *= 2;
            out = realloc(out, cap);
            if (!out) die("realloc");
        }
        s.next_out = out + n;
        s.avail_out = (uInt)(cap - n);
        rc = inflate(&s, Z_NO_FLUSH);
        n = cap - s.avail_out;
    } while (rc == Z_OK || (rc == Z_BUF_ERROR && s.avail_out == 0));
    int single = rc == Z_STREAM_END && s.avail_in == 0;
    inflateEnd(&s);
    if (!single) {
        free(out);
        return NULL;
    }
    *out_len = n;
    return out;
}

/* Splits `{"Records":[r1,r2,...]}` into its elements (appended to `l`). Returns 0 when the
 * envelope is malformed. A string-aware bracket scanner: enough for JSON this library wrote. */
static inline int split_records(const char *j, size_t len, record_list *l) {
    const char *key = "{\"Records\":[";
    size_t klen = strlen(key);
    if (len < klen + 2 || memcmp(j, key, klen) != 0) return 0;
    size_t i = klen, start = 0;
    int depth = 0, in_str = 0;
    for (; i < len; i++) {
        char c = j[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (depth == 0) start = i;
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) break; /* the closing ']' of Records */
            depth--;
            if (depth == 0) list_push(l, j + start, i + 1 - start);
        }
    }
    return i + 2 == len && j[i] == ']' && j[i + 1] == '}';
}

static record_list *g_collect;

static inline int collect_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    size_t plen = strlen(path);
    if (flag != FTW_F || plen < 8 || strcmp(path + plen - 8, ".json.gz") != 0) return 0;
    record_list *l = g_collect;
    l->files++;
    if (!strstr(path, "/audit-logs/AWSLogs/") || !strstr(path, "/CloudTrail/")) {
        l->bad_files++;
    }
    size_t zlen = 0, jlen = 0;
    unsigned char *z = read_file(path, &zlen);
    if (!z) die(path);
    unsigned char *json = gunzip_single(z, zlen, &jlen);
    free(z);
    if (!json || !split_records((const char *)json, jlen, l)) {
        fprintf(stderr, "  bad delivered file %s\n", path);
        l->bad_files++;
    }
    free(json);
    return 0;
}

/* Reads every delivered *.json.gz under `root` into `l`. */
static inline void collect_delivered(const char *root, record_list *l) {
    g_collect = l;
    nftw(root, collect_one, 16, FTW_PHYS);
    g_collect = NULL;
}

static inline int cmp_slice(const void *a, const void *b) {
    const slice *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->data, y->data, n);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* True when `a` and `b` hold the same records (as multisets of exact bytes). Sorts both. */
static inline int same_records(record_list *a, record_list *b) {
    if (a->n != b->n) {
        fprintf(stderr, "  record counts differ: %zu vs %zu\n", a->n, b->n);
        return 0;
    }
    qsort(a->items, a->n, sizeof(slice), cmp_slice);
    qsort(b->items, b->n, sizeof(slice), cmp_slice);
    for (size_t i = 0; i < a->n; i++) {
        if (cmp_slice(&a->items[i], &b->items[i]) != 0) {
            fprintf(stderr, "  record differs: %.80s… vs %.80s…\n", a->items[i].data,
                    b->items[i].data);
            return 0;
        }
    }
    return 1;
}

#endif /* OT_TEST_COMMON_H */
