/* hs_api_directory: the Client-Server room directory endpoints (spec v1.12 "Room
 * aliases", "Listing rooms", "User directory") and GET /capabilities:
 *
 *   PUT/GET/DELETE /directory/room/{roomAlias}, GET /rooms/{roomId}/aliases,
 *   GET/PUT /directory/list/room/{roomId}, GET/POST /publicRooms,
 *   POST /user_directory/search, GET /capabilities,
 *
 * plus the profile endpoints (hs_api_profile.h), all registered by
 * hs_api_directory_register. Only local aliases; /publicRooms?server=OTHER asks OTHER
 * over federation (hs_fed_public_rooms.h). Also the two calls createRoom makes for its
 * room_alias_name. */
#ifndef HS_API_DIRECTORY_H
#define HS_API_DIRECTORY_H

#include <jansson.h>
#include <stdint.h>

#include "server-core/hs_directory.h"
#include "server-core/hs_http.h"

struct hs_server;

/* Registers every endpoint above (and the profile ones). Returns 0, or -1. */
int hs_api_directory_register(struct hs_server *srv);

/* Before createRoom: if `request` has room_alias_name, builds the alias, checks it is
 * free and adds an m.room.canonical_alias event for it to the request's initial_state
 * (unless the request already sets one). Returns 0 with *alias (malloc'd, caller frees;
 * NULL without room_alias_name), or -1 after answering 400 M_INVALID_PARAM (not a valid
 * alias name), 409 M_ROOM_IN_USE (alias taken) or 500. */
int hs_api_directory_create_room_prepare(struct hs_server *srv, json_t *request, char **alias, hs_response *resp);

/* After createRoom succeeded: records alias -> room_id (created by `creator`); nothing
 * when alias is NULL. Returns 0, 1 if someone took the alias between prepare and now
 * (logged; the room keeps its canonical alias event), -1 on a database error. */
int hs_api_directory_create_room_finish(struct hs_server *srv, const char *alias, const char *room_id,
                                        const char *creator, int64_t now_ms);

/* Answers a /publicRooms request for this server's own list: 200 with the page
 * (hs_directory_public_list), 400 M_INVALID_PARAM for a since token that is not ours,
 * 500 on a database error. The federation endpoint answers through this too. */
void hs_api_directory_public_answer(struct hs_server *srv, const hs_directory_query *q, hs_response *resp);

/* The query of a GET /publicRooms - the client's or the federation's, whose parameters
 * are the same - from req's query string (hs_directory_query_from_params) into *q.
 * Returns 0, or -1 after answering 400 with the parameter's error. */
int hs_api_directory_public_query(const hs_request *req, hs_directory_query *q, hs_response *resp);

/* The other files of this module register their routes through these. */
int hs_api_directory_public_register(struct hs_server *srv);
int hs_api_directory_users_register(struct hs_server *srv);

#endif
