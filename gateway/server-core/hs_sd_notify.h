/* hs_sd_notify: tells systemd about service state (Type=notify units) without linking
 * libsystemd: one datagram to $NOTIFY_SOCKET. A no-op outside systemd. */
#ifndef HS_SD_NOTIFY_H
#define HS_SD_NOTIFY_H

/* Sends `state` ("READY=1", "STOPPING=1", "STATUS=..."). Returns 1 if sent, 0 when not
 * under systemd, -1 on a socket error. */
int hs_sd_notify(const char *state);

#endif
