-- Rotates through the seeded users so that every request is a real reset for a real account.
local users = tonumber(os.getenv("BENCH_USERS") or "10000")
-- Emails from the offset-th seeded user on, so a run can take users no earlier run touched.
local offset = tonumber(os.getenv("BENCH_USER_OFFSET") or "0")
local counter = 0
local thread_offset = 0

function setup(thread)
  thread:set("thread_offset", counter * 7919)
  counter = counter + 1
end

function init(args)
  n = thread_offset
end

function request()
  n = n + 1
  local body = string.format('{"email":"user%d@bench.example.com"}', offset + n % users)
  return wrk.format("POST", "/v1/auth/password-reset/trigger", { ["content-type"] = "application/json" }, body)
end
