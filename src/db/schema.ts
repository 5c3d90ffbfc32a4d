import type { ColumnType, Generated } from "kysely";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<unknown, string, string>;

export interface EventsTable {
  global_position: Generated<number>;
  transaction_id: Generated<string>;
  event_id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  data: Json;
  metadata: Json;
  recorded_at: Generated<Date>;
}

export interface SubscriptionsTable {
  name: string;
  last_transaction_id: Generated<string>;
  last_position: Generated<number>;
  owner: string | null;
  lease_expires_at: Date | null;
  updated_at: Generated<Date>;
}

export interface DataKeysTable {
  subject_id: string;
  wrapped_key: Uint8Array;
  created_at: Generated<Date>;
}

export interface UsersTable {
  id: string;
  sealed_email: string;
  email_lookup: string;
  password_hash: string;
  created_at: Timestamp;
  password_changed_at: Timestamp | null;
  /** Sealed like the email; null when the account chose no language. */
  sealed_locale: Generated<string | null>;
}

export interface ResetCodesTable {
  code_hash: string;
  request_id: string;
  stream_id: string;
  user_id: string;
  requested_at: Timestamp;
  expires_at: Timestamp;
  status: Generated<"active" | "superseded" | "used" | "locked">;
  /** The language its email was written in (null: before languages, or a concealed decoy). */
  locale: Generated<string | null>;
}

export interface RateLimitsTable {
  key: string;
  tat: Timestamp;
}

export interface SessionsTable {
  token_hash: string;
  session_id: string;
  user_id: string;
  created_at: Generated<Date>;
  expires_at: Timestamp;
  /** The user's password_changed_at when the session opened; any other value ends it. */
  password_changed_at: Timestamp | null;
  last_used_at: Timestamp;
  sealed_ip: string | null;
  sealed_user_agent: string | null;
}

export interface DeviceTokensTable {
  token_hash: string;
  device_id: string;
  user_id: string;
  created_at: Generated<Date>;
  expires_at: Timestamp;
  /** As for sessions: a device token belongs to the password it was issued with. */
  password_changed_at: Timestamp | null;
}

export interface RateWindowsTable {
  key: string;
  hits: ColumnType<Date[], string, string>;
  expires_at: Timestamp;
}

export interface RefusalTalliesTable {
  stream_id: string;
  limit_name: string;
  first_at: Timestamp;
  last_at: Timestamp;
  refused: number;
}

export interface ResetStreamsTable {
  email_lookup: string;
  stream_id: string;
}

export interface ResetCodeKeysTable {
  request_id: string;
  wrapped_key: Uint8Array;
  created_at: Generated<Date>;
}

export interface IpHashKeysTable {
  epoch: number;
  wrapped_key: Uint8Array;
}

export interface MailSendMarksTable {
  email_id: string;
  marked_at: Generated<Date>;
}

export interface Schema {
  events: EventsTable;
  subscriptions: SubscriptionsTable;
  data_keys: DataKeysTable;
  users: UsersTable;
  reset_codes: ResetCodesTable;
  rate_limits: RateLimitsTable;
  sessions: SessionsTable;
  device_tokens: DeviceTokensTable;
  rate_windows: RateWindowsTable;
  refusal_tallies: RefusalTalliesTable;
  reset_streams: ResetStreamsTable;
  reset_code_keys: ResetCodeKeysTable;
  ip_hash_keys: IpHashKeysTable;
  mail_send_marks: MailSendMarksTable;
}
