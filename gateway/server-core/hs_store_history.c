/* hs_store_history: what the room engine remembers about each event beyond the event
 * itself — which events were redacted and by what, and how events relate to each other
 * (m.relates_to), so clients can ask for edits, reactions and threads. */
#include "server-core/hs_store_internal.h"

const char hs_schema_history[] =
    "CREATE TABLE redactions (redacts TEXT NOT NULL, redaction_id TEXT NOT NULL REFERENCES events(event_id),"
    " room_id TEXT NOT NULL, PRIMARY KEY (redacts, redaction_id));"
    "CREATE TABLE event_relations (event_id TEXT PRIMARY KEY NOT NULL REFERENCES events(event_id),"
    " relates_to TEXT NOT NULL, rel_type TEXT NOT NULL, room_id TEXT NOT NULL);"
    "CREATE INDEX event_relations_target ON event_relations(relates_to, rel_type);";
