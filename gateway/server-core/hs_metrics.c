/* hs_metrics: one mutex around a small array of series. A request costs a short
 * linear probe over the series of the same listener; route tables have at most a few
 * hundred entries and the lock is held for nanoseconds, which is far below the cost of
 * any request. Replace with per-thread shards only if a benchmark shows contention. */
#include "server-core/hs_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_strbuf.h"

static const double bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_BOUNDS (sizeof bounds / sizeof bounds[0])

typedef struct series {
    const char *listener;
    const char *route;
    uint64_t by_class[5];           /* 1xx .. 5xx */
    uint64_t buckets[N_BOUNDS + 1]; /* last = +Inf */
    double sum;
    uint64_t count;
} series;

struct hs_metrics {
    pthread_mutex_t lock;
    series s[HS_METRICS_MAX_SERIES + 1]; /* + the "other" overflow series */
    size_t n;
};

hs_metrics *hs_metrics_new(void)
{
    hs_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void hs_metrics_free(hs_metrics *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static series *find(hs_metrics *m, const char *listener, const char *route)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->s[i].route, route) == 0 && strcmp(m->s[i].listener, listener) == 0) return &m->s[i];
    if (m->n < HS_METRICS_MAX_SERIES) {
        series *s = &m->s[m->n++];
        s->listener = listener;
        s->route = route;
        return s;
    }
    series *other = &m->s[HS_METRICS_MAX_SERIES];
    other->listener = "all";
    other->route = "other";
    return other;
}

void hs_metrics_observe(hs_metrics *m, const char *listener, const char *route, int status, double seconds)
{
    int cls = status / 100 - 1;
    if (cls < 0 || cls > 4) cls = 4;
    pthread_mutex_lock(&m->lock);
    series *s = find(m, listener, route);
    s->by_class[cls]++;
    size_t b = 0;
    while (b < N_BOUNDS && seconds > bounds[b]) b++;
    s->buckets[b]++;
    s->sum += seconds;
    s->count++;
    pthread_mutex_unlock(&m->lock);
}

/* Label values are escaped as the exposition format requires: \ " and newline. */
static void put_label(hs_strbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') hs_strbuf_printf(b, "\\%c", *v);
        else if (*v == '\n') hs_strbuf_printf(b, "\\n");
        else hs_strbuf_printf(b, "%c", *v);
    }
}

static void put_labels(hs_strbuf *b, const series *s)
{
    hs_strbuf_printf(b, "listener=\"");
    put_label(b, s->listener);
    hs_strbuf_printf(b, "\",route=\"");
    put_label(b, s->route);
    hs_strbuf_printf(b, "\"");
}

char *hs_metrics_render(hs_metrics *m, const hs_metrics_gauges *g)
{
    hs_strbuf b = HS_STRBUF_INIT;
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    pthread_mutex_lock(&m->lock);
    size_t n = m->n;
    series *all = malloc((n + 1) * sizeof *all);
    if (all) {
        memcpy(all, m->s, n * sizeof *all);
        if (m->s[HS_METRICS_MAX_SERIES].count) all[n++] = m->s[HS_METRICS_MAX_SERIES];
    }
    pthread_mutex_unlock(&m->lock);
    if (!all) return NULL;

    hs_strbuf_printf(&b, "# HELP pinegate_http_requests_total HTTP requests answered, by listener, route pattern and status class.\n"
            "# TYPE pinegate_http_requests_total counter\n");
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 5; c++) {
            if (!all[i].by_class[c]) continue;
            hs_strbuf_printf(&b, "pinegate_http_requests_total{");
            put_labels(&b, &all[i]);
            hs_strbuf_printf(&b, ",code=\"%s\"} %llu\n", classes[c], (unsigned long long)all[i].by_class[c]);
        }
    hs_strbuf_printf(&b, "# HELP pinegate_http_request_duration_seconds Time from request start to response queued.\n"
            "# TYPE pinegate_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < n; i++) {
        uint64_t cum = 0;
        for (size_t k = 0; k <= N_BOUNDS; k++) {
            cum += all[i].buckets[k];
            hs_strbuf_printf(&b, "pinegate_http_request_duration_seconds_bucket{");
            put_labels(&b, &all[i]);
            if (k < N_BOUNDS) hs_strbuf_printf(&b, ",le=\"%g\"} %llu\n", bounds[k], (unsigned long long)cum);
            else hs_strbuf_printf(&b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        hs_strbuf_printf(&b, "pinegate_http_request_duration_seconds_sum{");
        put_labels(&b, &all[i]);
        hs_strbuf_printf(&b, "} %.6f\npinegate_http_request_duration_seconds_count{", all[i].sum);
        put_labels(&b, &all[i]);
        hs_strbuf_printf(&b, "} %llu\n", (unsigned long long)all[i].count);
    }
    free(all);
    hs_strbuf_printf(&b, "# HELP pinegate_http_requests_in_flight Requests being processed now.\n"
            "# TYPE pinegate_http_requests_in_flight gauge\npinegate_http_requests_in_flight %lld\n",
        (long long)g->requests_in_flight);
    hs_strbuf_printf(&b, "# HELP pinegate_database_size_bytes Size of the database files (main + WAL).\n"
            "# TYPE pinegate_database_size_bytes gauge\npinegate_database_size_bytes %lld\n",
        (long long)g->database_size_bytes);
    hs_strbuf_printf(&b, "# HELP pinegate_uptime_seconds Seconds since the server started.\n"
            "# TYPE pinegate_uptime_seconds gauge\npinegate_uptime_seconds %.3f\n",
        g->uptime_seconds);
    return hs_strbuf_take(&b);
}
