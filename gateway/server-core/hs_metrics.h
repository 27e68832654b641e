/* hs_metrics: process metrics in Prometheus text format. Request counts by status class
 * and a latency histogram per (listener, route), where route is the matched route
 * pattern, never the raw path, so the number of series is bounded by the route tables
 * (plus HS_METRICS_MAX_SERIES as a hard cap; the rest is counted under route="other").
 * Thread-safe. */
#ifndef HS_METRICS_H
#define HS_METRICS_H

#include <stdint.h>

#define HS_METRICS_MAX_SERIES 1024

typedef struct hs_metrics hs_metrics;

/* Values sampled by the caller at render time. */
typedef struct hs_metrics_gauges {
    int64_t database_size_bytes;  /* -1 = unknown */
    double uptime_seconds;
    int64_t requests_in_flight;
} hs_metrics_gauges;

/* Creates an empty registry. NULL on allocation failure. */
hs_metrics *hs_metrics_new(void);

/* Frees the registry. NULL is allowed. */
void hs_metrics_free(hs_metrics *m);

/* Records one answered request. `listener` and `route` must outlive the registry
 * (static strings or route patterns). */
void hs_metrics_observe(hs_metrics *m, const char *listener, const char *route, int status, double seconds);

/* Renders every series plus the gauges. Returns a malloc'd string the caller frees, or
 * NULL on allocation failure. */
char *hs_metrics_render(hs_metrics *m, const hs_metrics_gauges *g);

#endif
