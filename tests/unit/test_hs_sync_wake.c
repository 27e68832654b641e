/* The pieces under parked long-polls (suite hs_sync_wake): an hs_wake fired before its
 * request is parked resumes it at the next arm (never lost, never a resume of a request
 * that is not parked), a fire while parked resumes exactly once; hs_notify listeners run
 * on every wake and never after unlisten. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "server-core/hs_http.h"
#include "server-core/hs_notify.h"

static _Atomic int resumes;

static void count_resume(void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&resumes, 1);
}

Test(hs_sync_wake, fire_before_arm_resumes_at_the_arm)
{
    atomic_store(&resumes, 0);
    hs_wake *w = hs_wake_new(count_resume, NULL);
    cr_assert_not_null(w);
    hs_wake_fire(w);                 /* the handler's registration fired before parking */
    cr_assert_eq(atomic_load(&resumes), 0, "resumed a request that was not parked");
    cr_assert(hs_wake_arm(w), "the early fire was lost");
    cr_assert_eq(atomic_load(&resumes), 0);
    cr_assert_not(hs_wake_arm(w), "one fire resumed twice");
    hs_wake_fire(w);                 /* parked now: resumes through the callback */
    cr_assert_eq(atomic_load(&resumes), 1);
    hs_wake_fire(w);                 /* not parked any more: remembered for the next arm */
    cr_assert_eq(atomic_load(&resumes), 1);
    cr_assert(hs_wake_arm(w));
    hs_wake_free(w);
}

typedef struct race {
    hs_wake *w;
    int fires;
} race;

static void *fire_many(void *arg)
{
    race *r = arg;
    for (int i = 0; i < r->fires; i++) hs_wake_fire(r->w);
    return NULL;
}

Test(hs_sync_wake, concurrent_fires_and_arms_lose_nothing)
{
    atomic_store(&resumes, 0);
    race r = {hs_wake_new(count_resume, NULL), 20000};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, fire_many, &r), 0);
    int immediate = 0;
    for (int i = 0; i < 20000; i++) {
        if (hs_wake_arm(r.w)) immediate++;
        /* what a transport does: a resumed request answers and is parked again */
    }
    pthread_join(th, NULL);
    /* every fire either resumed a parked request or made an arm return true, or was
     * merged into a pending one: never both for one arm, never more than the fires */
    cr_assert(atomic_load(&resumes) + immediate <= 20000);
    cr_assert(atomic_load(&resumes) + immediate > 0);
    hs_wake_free(r.w);
}

static _Atomic int heard;

static void listener(void *ctx)
{
    atomic_fetch_add(&heard, *(int *)ctx);
}

Test(hs_sync_wake, notifier_listeners)
{
    atomic_store(&heard, 0);
    hs_notifier *n = hs_notifier_new();
    int one = 1, ten = 10;
    cr_assert_eq(hs_notifier_listen(n, listener, &one), 0);
    cr_assert_eq(hs_notifier_listen(n, listener, &ten), 0);
    hs_notifier_wake(n);
    cr_assert_eq(atomic_load(&heard), 11);
    hs_notifier_unlisten(n, listener, &ten);
    hs_notifier_wake(n);
    cr_assert_eq(atomic_load(&heard), 12);
    hs_notifier_unlisten(n, listener, &one);
    hs_notifier_wake(n);
    cr_assert_eq(atomic_load(&heard), 12, "a listener ran after unlisten");
    cr_assert_eq(hs_notifier_generation(n), 3);
    int dummy = 0;
    for (int i = 0; i < HS_NOTIFY_MAX_LISTENERS; i++) cr_assert_eq(hs_notifier_listen(n, listener, &dummy), 0);
    cr_assert_eq(hs_notifier_listen(n, listener, &dummy), -1, "the listener table is bounded");
    hs_notifier_free(n);
}
