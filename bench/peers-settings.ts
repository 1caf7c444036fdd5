/** Settings of the single-host-peers bench that its README table names (bench/readme.ts reads them from here). */
export const WATCHTOWER_POLL_SECONDS = 2;
