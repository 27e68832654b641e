/* hs_multipart: the federation media answer parser on a well-formed answer (as
 * pinegate and Synapse send it), a quoted boundary with a preamble, a Location part,
 * and the failures a bad peer can cause: truncated bodies, a file over the limit, a
 * missing or wrong boundary, a third part. Also the file name of Content-Disposition. */
#include <criterion/criterion.h>
#include <string.h>

#include "server-core/hs_multipart.h"

#define GOOD                                                                                   \
    "--b0undary\r\nContent-Type: application/json\r\n\r\n{}\r\n"                             \
    "--b0undary\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename=\"a b.png\"\r\n\r\n" \
    "\x89PNG\r\n--b0\x00\xff-tail\r\n--b0undary--\r\n"

static int parse(const char *ct, const char *body, size_t len, size_t max, hs_multipart_media *m, char *err)
{
    return hs_multipart_parse(ct, body, len, max, m, err, 128);
}

Test(hs_multipart, good_answer_gives_the_exact_bytes_and_headers)
{
    hs_multipart_media m;
    char err[128] = "";
    cr_assert_eq(parse("multipart/mixed; boundary=b0undary", GOOD, sizeof GOOD - 1, 1000, &m, err), 0, "%s", err);
    cr_assert_eq(m.json_len, 2);
    cr_assert_eq(memcmp(m.json, "{}", 2), 0);
    static const char want[] = "\x89PNG\r\n--b0\x00\xff-tail";
    cr_assert_eq(m.data_len, sizeof want - 1);
    cr_assert_eq(memcmp(m.data, want, sizeof want - 1), 0);
    cr_assert_str_eq(m.content_type, "image/png");
    cr_assert_str_eq(m.disposition, "inline; filename=\"a b.png\"");
    cr_assert_str_eq(m.location, "");
    char name[64];
    cr_assert_eq(hs_multipart_disposition_name(m.disposition, name, sizeof name), 0);
    cr_assert_str_eq(name, "a b.png");
}

Test(hs_multipart, quoted_boundary_preamble_and_location)
{
    static const char body[] = "ignored preamble\r\n--x y\r\n\r\n{}\r\n--x y\r\nLocation: https://cdn.example/f\r\n\r\n"
                               "\r\n--x y--";
    hs_multipart_media m;
    char err[128] = "";
    cr_assert_eq(parse("Multipart/Mixed;boundary=\"x y\"", body, sizeof body - 1, 10, &m, err), 0, "%s", err);
    cr_assert_str_eq(m.location, "https://cdn.example/f");
    cr_assert_eq(m.data_len, 0);
}

Test(hs_multipart, truncated_answers_are_refused)
{
    hs_multipart_media m;
    char err[128];
    /* Every proper prefix of a good answer lacks its closing delimiter. */
    for (size_t cut = 0; cut < sizeof GOOD - 1 - strlen("--\r\n"); cut++)
        cr_assert_eq(parse("multipart/mixed; boundary=b0undary", GOOD, cut, 1000, &m, err), -1, "cut at %zu", cut);
}

Test(hs_multipart, oversized_file_is_refused)
{
    hs_multipart_media m;
    char err[128] = "";
    cr_assert_eq(parse("multipart/mixed; boundary=b0undary", GOOD, sizeof GOOD - 1, 16, &m, err), -1);
    cr_assert(strstr(err, "limit"), "%s", err);
    cr_assert_eq(parse("multipart/mixed; boundary=b0undary", GOOD, sizeof GOOD - 1, 17, &m, err), 0, "%s", err);
}

Test(hs_multipart, missing_or_wrong_boundary_is_refused)
{
    hs_multipart_media m;
    char err[128];
    cr_assert_eq(parse("multipart/mixed", GOOD, sizeof GOOD - 1, 1000, &m, err), -1);
    cr_assert_eq(parse("multipart/mixed; boundary=", GOOD, sizeof GOOD - 1, 1000, &m, err), -1);
    cr_assert_eq(parse("application/json", GOOD, sizeof GOOD - 1, 1000, &m, err), -1);
    cr_assert_eq(parse(NULL, GOOD, sizeof GOOD - 1, 1000, &m, err), -1);
    cr_assert_eq(parse("multipart/mixed; boundary=other", GOOD, sizeof GOOD - 1, 1000, &m, err), -1);
    char longb[120] = "multipart/mixed; boundary=";
    memset(longb + strlen(longb), 'a', 71);
    cr_assert_eq(parse(longb, GOOD, sizeof GOOD - 1, 1000, &m, err), -1);
}

Test(hs_multipart, one_or_three_parts_are_refused)
{
    static const char one[] = "--b\r\n\r\n{}\r\n--b--";
    static const char three[] = "--b\r\n\r\n{}\r\n--b\r\n\r\nx\r\n--b\r\n\r\ny\r\n--b--";
    hs_multipart_media m;
    char err[128];
    cr_assert_eq(parse("multipart/mixed; boundary=b", one, sizeof one - 1, 10, &m, err), -1);
    cr_assert_eq(parse("multipart/mixed; boundary=b", three, sizeof three - 1, 10, &m, err), -1);
}

Test(hs_multipart, disposition_names)
{
    char name[16];
    cr_assert_eq(hs_multipart_disposition_name("attachment; filename*=utf-8''%C3%A9t%C3%A9.txt", name, sizeof name), 0);
    cr_assert_str_eq(name, "\xc3\xa9t\xc3\xa9.txt");
    cr_assert_eq(hs_multipart_disposition_name("inline; filename=plain.txt", name, sizeof name), 0);
    cr_assert_str_eq(name, "plain.txt");
    cr_assert_eq(hs_multipart_disposition_name("inline", name, sizeof name), -1);
    cr_assert_eq(hs_multipart_disposition_name("inline; filename*=utf-8''%00", name, sizeof name), -1);
    cr_assert_eq(hs_multipart_disposition_name("inline; filename=waytoolongforthisbuffer", name, sizeof name), -1);
}
