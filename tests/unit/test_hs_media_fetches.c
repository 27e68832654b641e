/* hs_media_fetches, the table of remote media fetches in progress: the first download
 * of a file leads its fetch and later ones follow it; a new fetch over the cap is
 * refused while followers of running ones are not; finishing frees the slot, hands the
 * outcome to the followers (also to one waiting on its thread) and lets the next
 * download of the file start anew. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <unistd.h>

#include "server-core/hs_clock.h"
#include "server-core/hs_media_fetches.h"

Test(hs_media_fetches, one_leader_per_file_and_a_cap_on_new_fetches)
{
    hs_media_fetches *fs = hs_media_fetches_new(2);
    bool leader;
    hs_media_fetch *a1 = hs_media_fetches_join(fs, "o.test", "A", &leader);
    cr_assert(a1 && leader);
    hs_media_fetch *a2 = hs_media_fetches_join(fs, "o.test", "A", &leader);
    cr_assert(a2 == a1 && !leader, "the same file: a follower");
    hs_media_fetch *other_origin = hs_media_fetches_join(fs, "p.test", "A", &leader);
    cr_assert(other_origin && other_origin != a1 && leader, "another origin is another file");
    bool l3 = true;
    cr_assert_null(hs_media_fetches_join(fs, "o.test", "B", &l3), "a third fetch is over the cap");
    cr_assert_not(l3);
    hs_media_fetch *a3 = hs_media_fetches_join(fs, "o.test", "A", &leader);
    cr_assert(a3 == a1 && !leader, "following a running fetch is always allowed");

    int rc = 7;
    cr_assert_not(hs_media_fetch_done(fs, a2, &rc));
    hs_media_fetches_finish(fs, a1, 1);
    cr_assert(hs_media_fetch_done(fs, a2, &rc));
    cr_assert_eq(rc, 1);
    hs_media_fetches_release(fs, a1);

    /* The slot is free and the file starts anew. */
    hs_media_fetch *b = hs_media_fetches_join(fs, "o.test", "B", &leader);
    cr_assert(b && leader);
    hs_media_fetch *a4 = hs_media_fetches_join(fs, "o.test", "A", &leader);
    cr_assert_null(a4, "A is not running any more: a new fetch of it is over the cap again");
    hs_media_fetches_release(fs, a2);
    hs_media_fetches_release(fs, a3);
    hs_media_fetches_finish(fs, b, 0);
    hs_media_fetches_release(fs, b);
    hs_media_fetches_finish(fs, other_origin, -1);
    hs_media_fetches_release(fs, other_origin);
    hs_media_fetches_free(fs);
}

typedef struct finisher {
    hs_media_fetches *fs;
    hs_media_fetch *f;
} finisher;

static void *finish_later(void *arg)
{
    finisher *x = arg;
    usleep(200 * 1000);
    hs_media_fetches_finish(x->fs, x->f, 0);
    hs_media_fetches_release(x->fs, x->f);
    return NULL;
}

Test(hs_media_fetches, a_follower_on_its_thread_waits_until_the_outcome_or_its_deadline)
{
    hs_media_fetches *fs = hs_media_fetches_new(1);
    bool leader;
    hs_media_fetch *f = hs_media_fetches_join(fs, "o.test", "A", &leader);
    hs_media_fetch *g = hs_media_fetches_join(fs, "o.test", "A", &leader);
    int rc = 7;
    int64_t t0 = hs_clock_mono_ms();
    cr_assert_not(hs_media_fetch_wait(fs, g, t0 + 100, &rc), "the deadline passes first");
    cr_assert_geq(hs_clock_mono_ms() - t0, 90);
    finisher x = {fs, f};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, finish_later, &x), 0);
    cr_assert(hs_media_fetch_wait(fs, g, hs_clock_mono_ms() + 10000, &rc));
    cr_assert_eq(rc, 0);
    cr_assert_lt(hs_clock_mono_ms() - t0, 5000);
    pthread_join(t, NULL);
    hs_media_fetches_release(fs, g);
    hs_media_fetches_free(fs);
}
