-- login.lua -- wrk script: POST /api/login/ with the tutorial's form body, counting successes.
--
-- Each request logs one of BENCH_USERS users in (bench0 .. bench<N-1>, password from
-- BENCH_PASSWORD), in turn, as application/x-www-form-urlencoded, the way the tutorial's client
-- posts. A response is a success only when it is a 200 whose body holds a "token". At the end
-- one line reports what wrk's own summary cannot (it counts every response alike):
--
--   login.lua: requests=N ok=N failed=N ok_per_s=N.N status_200=N status_400=N ...
--
-- Usage: BENCH_USERS=100 BENCH_PASSWORD=secret wrk -t1 -c32 -d10s -s bench/login.lua \
--            http://127.0.0.1:PORT/api/login/

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   n_users = tonumber(os.getenv("BENCH_USERS") or "1")
   password = os.getenv("BENCH_PASSWORD") or "bench-password"
   next_user = 0
   ok, failed = 0, 0
   statuses = {}
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
   local body = "username=bench" .. next_user .. "&password=" .. password
   next_user = (next_user + 1) % n_users
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   if status == 200 and string.find(body, '"token"', 1, true) then
      ok = ok + 1
   else
      failed = failed + 1
   end
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local ok_total, failed_total, by_status = 0, 0, {}
   for _, t in ipairs(threads) do
      ok_total = ok_total + t:get("ok")
      failed_total = failed_total + t:get("failed")
      for status, n in pairs(t:get("statuses")) do
         by_status[status] = (by_status[status] or 0) + n
      end
   end
   local secs = summary.duration / 1e6
   local line = string.format("login.lua: requests=%d ok=%d failed=%d ok_per_s=%.1f",
                              ok_total + failed_total, ok_total, failed_total, ok_total / secs)
   for status, n in pairs(by_status) do
      line = line .. string.format(" status_%d=%d", status, n)
   end
   line = line .. string.format(" timeouts=%d p50_ms=%.2f p99_ms=%.2f", summary.errors.timeout,
                                latency:percentile(50) / 1000, latency:percentile(99) / 1000)
   print(line)
end
