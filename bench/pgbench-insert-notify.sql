-- The same one-row INSERT with a pg_notify in its transaction: PreCommit_Notify's cluster-wide lock.
begin;
insert into pgbench_events (event_id, stream_id, type, data)
values (gen_random_uuid(), 'password-reset-' || gen_random_uuid(), 'PasswordResetRequested', '{"requestId":"x","expiresAt":"2026-11-27T10:10:00Z"}');
select pg_notify('bench', 'x');
commit;
