/* hs_httpd's upgrade hook over a real loopback socket, with a toy protocol: the hook's
 * 101 reaches the client with its headers; bytes the client sent right after its request
 * reach the adopter (through `extra` or the socket); the adopter then owns a working
 * two-way socket until hs_httpd_upgraded_close, which the client sees as EOF; an upgraded
 * connection no longer counts as in flight (it would hold the shutdown grace period); a
 * non-101 answer of the check is sent as an ordinary response; without the hook the path
 * is the router's again (404). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server-core/hs_httpd.h"

static hs_router *router;
static hs_httpd *httpd;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static hs_upgraded *adopted_conn;
static int adopted_fd = -1;
static char adopted_extra[64];
static size_t adopted_len;

static void check(void *ud, const hs_request *req, hs_response *resp)
{
    (void)ud;
    if (!hs_request_header(req, "X-Take")) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "no X-Take");
        return;
    }
    resp->status = 101;
    hs_response_header(resp, "Upgrade", "toy");
    hs_response_header(resp, "X-Toy", "yes");
}

static void adopt(void *ud, hs_upgraded *conn, int fd, const uint8_t *extra, size_t len, const char *remote)
{
    (void)ud;
    cr_assert_str_eq(remote, "127.0.0.1");
    pthread_mutex_lock(&mu);
    adopted_conn = conn;
    adopted_fd = fd;
    adopted_len = len < sizeof adopted_extra ? len : sizeof adopted_extra;
    memcpy(adopted_extra, extra, adopted_len);
    pthread_mutex_unlock(&mu);
}

static void setup(void)
{
    router = hs_router_new((hs_router_options){0});
    char err[256];
    hs_httpd_config c = {.name = "client", .bind_address = "127.0.0.1", .threads = 2, .max_connections = 16,
                         .max_body_bytes = 4096, .router = router};
    httpd = hs_httpd_start(&c, err, sizeof err);
    cr_assert(httpd, "%s", err);
    hs_httpd_upgrade u = {.path = "/up", .check = check, .adopt = adopt};
    hs_httpd_set_upgrade(httpd, &u);
}

static void teardown(void)
{
    hs_httpd_set_upgrade(httpd, NULL);
    hs_httpd_stop(httpd);
    hs_router_free(router);
    adopted_conn = NULL;
    adopted_fd = -1;
}

TestSuite(hs_httpd_upgrade, .init = setup, .fini = teardown, .timeout = 30);

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)hs_httpd_port(httpd))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Connects and writes the whole of `req`; returns the socket. */
static int send_request(const char *req)
{
    int fd = dial();
    size_t len = strlen(req);
    cr_assert_eq(write(fd, req, len), (ssize_t)len);
    return fd;
}

/* Reads from fd until `want` bytes or `stop` appears, EOF, or 5 s pass. */
static size_t read_some(int fd, char *buf, size_t cap, size_t want, const char *stop)
{
    size_t n = 0;
    while (n < want && n + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0) break;
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got <= 0) break;
        n += (size_t)got;
        buf[n] = '\0';
        if (stop && strstr(buf, stop)) break;
    }
    buf[n] = '\0';
    return n;
}

Test(hs_httpd_upgrade, socket_is_handed_over_and_closed_by_the_adopter)
{
    int fd = send_request("GET /up?x=1 HTTP/1.1\r\nHost: t\r\nUpgrade: toy\r\nConnection: Upgrade\r\nX-Take: 1\r\n\r\nhello");
    char head[1024];
    read_some(fd, head, sizeof head, sizeof head, "\r\n\r\n");
    cr_assert(strncmp(head, "HTTP/1.1 101", 12) == 0, "%s", head);
    cr_assert(strstr(head, "Upgrade: toy"), "%s", head);
    cr_assert(strstr(head, "X-Toy: yes"), "%s", head);
    cr_assert(strcasestr(head, "Connection: Upgrade"), "%s", head);

    int sfd = -1;
    for (int i = 0; i < 500 && sfd < 0; i++) {
        pthread_mutex_lock(&mu);
        sfd = adopted_fd;
        pthread_mutex_unlock(&mu);
        if (sfd < 0) usleep(10000);
    }
    cr_assert_geq(sfd, 0, "the hook never adopted the connection");
    cr_assert_eq(hs_httpd_in_flight(httpd), 0, "an upgraded connection must not count as in flight");

    /* "hello" came either with the request (extra) or is still in the socket */
    char got[64];
    memcpy(got, adopted_extra, adopted_len);
    size_t n = adopted_len + read_some(sfd, got + adopted_len, sizeof got - adopted_len, 5 - adopted_len, NULL);
    cr_assert_eq(n, 5);
    cr_assert(memcmp(got, "hello", 5) == 0);

    cr_assert_eq(write(sfd, "world", 5), 5);
    char back[16];
    cr_assert_eq(read_some(fd, back, sizeof back, 5, NULL), 5);
    cr_assert_str_eq(back, "world");

    hs_httpd_upgraded_close(adopted_conn);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 5000), 1, "the client must see the close");
    cr_assert_eq(read(fd, back, sizeof back), 0, "EOF after hs_httpd_upgraded_close");
    close(fd);
}

Test(hs_httpd_upgrade, refusal_is_an_ordinary_response_and_no_hook_is_404)
{
    int fd = send_request("GET /up HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    char resp[2048];
    read_some(fd, resp, sizeof resp, sizeof resp, "no X-Take");
    cr_assert(strncmp(resp, "HTTP/1.1 403", 12) == 0, "%s", resp);
    cr_assert(strstr(resp, "M_FORBIDDEN"), "%s", resp);
    close(fd);

    hs_httpd_set_upgrade(httpd, NULL);
    fd = send_request("GET /up HTTP/1.1\r\nHost: t\r\nUpgrade: toy\r\nConnection: Upgrade\r\nX-Take: 1\r\n\r\n");
    read_some(fd, resp, sizeof resp, sizeof resp, "M_UNRECOGNIZED");
    cr_assert(strncmp(resp, "HTTP/1.1 404", 12) == 0, "%s", resp);
    close(fd);
    cr_assert_eq(adopted_fd, -1);
}
