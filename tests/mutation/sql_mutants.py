"""Mutants of the erasure and retention functions, which are SQL.

Each mutant is one thing docs/privacy.md promises an erasure removes (or a retention pass
keeps), taken out of the function as the database holds it: ``find`` must occur exactly
once in ``pg_get_functiondef`` of ``function``, and is replaced by ``replace``. A mutant
whose ``find`` no longer occurs fails the harness, so that a rewritten function cannot
leave its mutants silently untested.
"""

from dataclasses import dataclass

ERASE = "ch_erase_customer(uuid, uuid, text, timestamptz)"
EXPIRE = "ch_expire_events(text, timestamptz, integer)"
REDACT = "ch_redact(jsonb)"
ERASED_KEY = "ch_erased_key(text)"


@dataclass(frozen=True, slots=True)
class SqlMutant:
    """One removal (or keep) applied to a database function."""

    name: str
    function: str  # a regprocedure: name and argument types
    find: str
    replace: str
    breaks: str  # the promise the mutant breaks, in docs/privacy.md's words


def _keep_column(column: str, erased_to: str) -> SqlMutant:
    """The erasure leaves one column of the customer (and its merged family) as it was."""
    return SqlMutant(
        f"keeps customers.{column}",
        ERASE,
        f"{column} = {erased_to}",
        f"{column} = {column}",
        f"it removes the {column.replace('_', ' ')} of the customer and its merged ones",
    )


MUTANTS: tuple[SqlMutant, ...] = (
    # -- who is erased -----------------------------------------------------------------
    SqlMutant(
        "erases the customer alone, not its merge family",
        ERASE,
        "WHERE merge_root = p_customer",
        "WHERE false",
        "of the customer and of every customer merged into it",
    ),
    SqlMutant(
        "erases again when repeated",
        ERASE,
        "IF FOUND THEN",
        "IF false THEN",
        "repeating the request changes nothing and answers already_erased: true",
    ),
    SqlMutant(
        "records no customer.erased event",
        ERASE,
        "VALUES (p_event, p_customer, 'customer.erased',",
        "VALUES (p_event, p_customer, 'note.added',",
        "a customer.erased event records when and why",
    ),
    # -- raw deliveries ----------------------------------------------------------------
    SqlMutant(
        "skips the delivery wipe",
        ERASE,
        "WHERE d.erased_at IS NULL",
        "WHERE false AND d.erased_at IS NULL",
        "the body, headers and query string of every raw delivery that concerns it",
    ),
    SqlMutant(
        "keeps delivery bodies",
        ERASE,
        "SET body = ''::bytea, ",
        "SET ",
        "the body ... of every raw delivery that concerns it",
    ),
    SqlMutant(
        "keeps delivery headers",
        ERASE,
        "headers = '{}'::jsonb, ",
        "",
        "the ... headers ... of every raw delivery that concerns it",
    ),
    SqlMutant(
        "keeps delivery query strings",
        ERASE,
        "url = split_part(d.url, '?', 1),",
        "",
        "the ... query string of every raw delivery that concerns it",
    ),
    SqlMutant(
        "keeps delivery errors",
        ERASE,
        "error = NULL, ",
        "",
        "a failed delivery naming the customer ... is wiped too",
    ),
    SqlMutant(
        "keeps erased deliveries awaiting",
        ERASE,
        "awaits_scope = NULL, awaits_key = NULL, ",
        "",
        "an erased delivery stops awaiting (migration 0013)",
    ),
    SqlMutant(
        "forgets deliveries found by the identifiers they named",
        ERASE,
        "OR d.id IN (SELECT n.delivery_id FROM delivery_identifiers n",
        "OR false AND d.id IN (SELECT n.delivery_id FROM delivery_identifiers n",
        "a failed delivery naming the customer, even one who became a customer later (0015)",
    ),
    SqlMutant(
        "wipes only deliveries with events, not failed ones",
        ERASE,
        "FROM delivery_customers l",
        "FROM events l",
        "found by that link, not by searching bodies: a failed delivery ... is wiped too",
    ),
    # -- keys --------------------------------------------------------------------------
    SqlMutant(
        "keeps event_keys.key in clear",
        ERASE,
        "UPDATE event_keys k SET key = ch_erased_key(k.key)",
        "UPDATE event_keys k SET key = k.key",
        "the idempotency keys of its events (event_keys.key ...) are kept only as their hash",
    ),
    SqlMutant(
        "keeps events.source_event_id in clear",
        ERASE,
        "ELSE ch_erased_key(source_event_id) END",
        "ELSE source_event_id END",
        "(... events.source_event_id, which may spell an email) are kept only as their hash",
    ),
    SqlMutant(
        "hashes nothing: a key's 'hash' is the key itself",
        ERASED_KEY,
        "encode(sha256(convert_to(key, 'UTF8')), 'hex')",
        "key",
        "keys are kept only as their hash",
    ),
    # -- events ------------------------------------------------------------------------
    SqlMutant(
        "keeps event payloads",
        ERASE,
        "SET payload = ch_scrub(ch_redact(payload), texts, digits),",
        "SET payload = payload,",
        "from every event ... every payload field but a kept list",
    ),
    SqlMutant(
        "leaves identifiers spelled in kept fields",
        ERASE,
        "ch_scrub(ch_redact(payload), texts, digits)",
        "ch_redact(payload)",
        "a kept field that spells the customer's email, phone or external id goes (0015)",
    ),
    SqlMutant(
        "keeps event actors",
        ERASE,
        "actor = NULL,",
        "",
        "from every event, the actor",
    ),
    SqlMutant(
        "keeps event summaries",
        ERASE,
        "summary = initcap(replace(replace(type, '.', ' '), '_', ' ')),",
        "summary = summary,",
        "from every event ... the summary (it becomes the type's name)",
    ),
    SqlMutant(
        "redacts only the customer's own events",
        ERASE,
        "WHERE customer_id = ANY(family);\n    GET DIAGNOSTICS n_events",
        "WHERE customer_id = p_customer;\n    GET DIAGNOSTICS n_events",
        "from every event (merged-in histories included)",
    ),
    SqlMutant(
        "the kept list also keeps free text ('text')",
        REDACT,
        "WHERE k IN (",
        "WHERE k IN ('text', ",
        "every payload field but a kept list (notes, bodies ... go)",
    ),
    SqlMutant(
        "the kept list also keeps addresses ('shipping_address')",
        REDACT,
        "WHERE k IN (",
        "WHERE k IN ('shipping_address', 'street', 'name', ",
        "every payload field but a kept list (names, addresses ... go)",
    ),
    SqlMutant(
        "keeps strings inside arrays",
        REDACT,
        "WHERE jsonb_typeof(v) <> 'string'",
        "WHERE true",
        "every payload field but a kept list (an email's recipients go)",
    ),
    SqlMutant(
        "forgets what is kept: every payload field goes",
        REDACT,
        "WHERE k IN (",
        "WHERE false AND k IN (",
        "what an erasure keeps, so that company figures stay true: amounts, currencies...",
    ),
    # -- the aggregate -----------------------------------------------------------------
    SqlMutant(
        "keeps current identifiers",
        ERASE,
        "DELETE FROM customer_identifiers WHERE customer_id = ANY(family);",
        "PERFORM 1;",
        "its identifiers, current ... (a later call from the number is an unknown caller)",
    ),
    SqlMutant(
        "keeps past identifiers",
        ERASE,
        "DELETE FROM past_identifiers WHERE customer_id = ANY(family);",
        "",
        "its identifiers, current and past",
    ),
    SqlMutant(
        "keeps consent evidence",
        ERASE,
        "UPDATE customer_consents SET evidence = NULL WHERE customer_id = ANY(family);",
        "",
        "consent evidence",
    ),
    SqlMutant(
        "keeps the display name",
        ERASE,
        "display_name = 'Erased customer'",
        "display_name = display_name",
        "it removes names",
    ),
    _keep_column("given_name", "NULL"),
    _keep_column("family_name", "NULL"),
    _keep_column("job_title", "NULL"),
    _keep_column("legal_name", "NULL"),
    _keep_column("website", "NULL"),
    _keep_column("address", "NULL"),
    _keep_column("preferences", "NULL"),
    _keep_column("attributes", "'{}'::jsonb"),
    _keep_column("tags", "'{}'"),
    SqlMutant(
        "leaves the status as it was",
        ERASE,
        "status = 'erased'",
        "status = status",
        "the customer keeps its id with status erased",
    ),
    SqlMutant(
        "leaves the version (ETag) as it was",
        ERASE,
        "version = version + 1",
        "version = version",
        "changes to a customer advance its version (its ETag): a stale If-Match is refused",
    ),
    # -- what the service once did beside the function (migration 0036) ----------------
    SqlMutant(
        "keeps the words the analyses matched",
        ERASE,
        "UPDATE text_analyses SET terms = NULL",
        "UPDATE text_analyses SET terms = terms",
        "the words that the analyses of its messages matched (text_analyses.terms)",
    ),
    SqlMutant(
        "keeps its messages' fields",
        ERASE,
        "SET fields = '{}'::jsonb, ",
        "SET ",
        "its messages keep their status and channel only",
    ),
    SqlMutant(
        "leaves its queued messages queued",
        ERASE,
        "CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END",
        "status",
        "queued ones are cancelled",
    ),
    SqlMutant(
        "announces no customer.erased to subscribers",
        ERASE,
        "AND s.kinds && ARRAY['customer.erased', 'customer.*']",
        "AND false",
        "a customer.erased fact for the subscriptions that want it",
    ),
    SqlMutant(
        "tells no one that the family's access changed",
        ERASE,
        "PERFORM pg_notify('ch_access', 'customer:' || member::text) FROM unnest(family) member;",
        "",
        "a live timeline of an erased customer closes",
    ),
    SqlMutant(
        "tells only of the customer, not of those merged into it",
        ERASE,
        "FROM unnest(family) member",
        "FROM unnest(ARRAY[p_customer]) member",
        "a live timeline of an erased customer (or of one merged into it) closes",
    ),
    # -- retention ---------------------------------------------------------------------
    SqlMutant(
        "expires every type, not the one given",
        EXPIRE,
        "e.type = p_type AND ",
        "",
        "events until the customer is erased unless a type is given a period",
    ),
    SqlMutant(
        "expires regardless of age",
        EXPIRE,
        "AND e.occurred_at < p_before",
        "",
        "a type is given a period: only older events go",
    ),
    SqlMutant(
        "expires without a batch bound",
        EXPIRE,
        "LIMIT p_limit",
        "",
        "deletes what expired in batches of short transactions",
    ),
    SqlMutant(
        "reports no customer whose history shrank",
        EXPIRE,
        "            RETURN NEXT;",
        "            NULL;",
        "customers whose history shrank get their indicators rebuilt",
    ),
    SqlMutant(
        "waits for rows in use",
        EXPIRE,
        "FOR UPDATE SKIP LOCKED",
        "FOR UPDATE",
        "short transactions that skip rows in use, so ingestion goes on while it runs",
    ),
)
