import type { Migration, MigrationProvider } from "kysely";
import * as eventStore from "./0001-event-store";
import * as privacyAndAccounts from "./0002-privacy-and-accounts";
import * as passwordReset from "./0003-password-reset";
import * as sessions from "./0004-sessions";
import * as auditIndexes from "./0005-audit-indexes";
import * as resetCodesByUser from "./0006-reset-codes-by-user";
import * as eventsIndexes from "./0007-events-indexes";
import * as accountSecurity from "./0008-account-security";
import * as privacyAndLeastPrivilege from "./0009-privacy-and-least-privilege";
import * as deliveryReportsAndAuditStats from "./0010-delivery-reports-and-audit-stats";
import * as mailSendMarks from "./0011-mail-send-marks";
import * as sessionsAndDevices from "./0012-sessions-and-devices";
import * as accountLocale from "./0013-account-locale";

const migrations: Record<string, Migration> = {
  "0001-event-store": eventStore,
  "0002-privacy-and-accounts": privacyAndAccounts,
  "0003-password-reset": passwordReset,
  "0004-sessions": sessions,
  "0005-audit-indexes": auditIndexes,
  "0006-reset-codes-by-user": resetCodesByUser,
  "0007-events-indexes": eventsIndexes,
  "0008-account-security": accountSecurity,
  "0009-privacy-and-least-privilege": privacyAndLeastPrivilege,
  "0010-delivery-reports-and-audit-stats": deliveryReportsAndAuditStats,
  "0011-mail-send-marks": mailSendMarks,
  "0012-sessions-and-devices": sessionsAndDevices,
  "0013-account-locale": accountLocale,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
