/* hs_cmd_event: `pinegate event <subcommand>`, offline tools over single PDUs read from
 * stdin: `check` (event ID, content hash, signatures, format) and `redact`. Other
 * modules add subcommands as lines in the table in hs_cmd_event.c. */
#ifndef HS_CMD_EVENT_H
#define HS_CMD_EVENT_H

/* The dispatcher: argv[0] = "event", argv[1] = the subcommand. */
int pg_cmd_event(int argc, char **argv);

/* `event check [--room-version V] [--keys KEYS.json ...] < pdu.json` */
int hs_cmd_event_check(int argc, char **argv);

/* `event redact [--room-version V] < pdu.json` */
int hs_cmd_event_redact(int argc, char **argv);

/* `event auth --room-version V --state STATE.jsonl [--auth-events] < pdu.json`
 * (hs_cmd_event_auth.c) */
int hs_cmd_event_auth(int argc, char **argv);

#endif
