-- 003: the guard of the apply transaction. memworker inserts a batch's
-- message keys into mem0_ingest_log (ON CONFLICT DO NOTHING) and passes how
-- many it expected and how many went in; a difference means another
-- delivery already applied some of them, and raising here rolls the whole
-- batch back (SQLSTATE MW409) so the worker filters the keys again.
CREATE OR REPLACE FUNCTION memworker_ingest_check(expected integer, inserted integer)
RETURNS integer AS $$
BEGIN
	IF inserted <> expected THEN
		RAISE EXCEPTION 'memworker: % of % message keys were already applied', expected - inserted, expected
			USING ERRCODE = 'MW409';
	END IF;
	RETURN inserted;
END
$$ LANGUAGE plpgsql;
