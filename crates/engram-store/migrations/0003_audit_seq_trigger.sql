-- The organisation's audit counter now follows its events: an event is inserted with `seq = counter + 1` in one
-- statement, and this trigger moves the counter (creating the organisation's row on its first event). The single
-- writer connection and the (org_id, seq) primary key keep `seq` gap-free and unique.
CREATE TRIGGER audit_events_seq AFTER INSERT ON audit_events BEGIN
    INSERT INTO orgs (id, audit_seq, created_at) VALUES (new.org_id, new.seq, new.at)
    ON CONFLICT (id) DO UPDATE SET audit_seq = excluded.audit_seq;
END;
