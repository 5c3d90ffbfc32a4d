import { ConfigError, loadConfig } from "../config";
import { migrate, openDatabase } from "../db";

const config = (() => {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`configuration error: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
})();
const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
try {
  const applied = await migrate(database.db);
  console.log(applied.length ? `applied: ${applied.join(", ")}` : "up to date");
} finally {
  await database.close();
}
