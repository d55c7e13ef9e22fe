-- wrk replays pre-built HTTP requests: `wrk ... -s bench/replay.lua URL -- FILE MODE THREADS`.
--
-- FILE holds whole requests (request line, headers with Host and Content-Length, body),
-- each preceded by a line with its length in bytes; bench/wrk.py writes it. Thread k of
-- THREADS sends requests k+1, k+1+THREADS, ... MODE "cycle" goes round and round (reads
-- rotating over many phones or customers); MODE "once" sends each request at most once
-- (webhook deliveries, each new) and stops the thread when its share is spent; wrk still
-- times the whole duration, so such a run says "spent" and its rate is not one. done()
-- prints the figures as one JSON line after the marker "wrk-figures ".

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local all = {}
  local at = 1
  while at <= #data do
    local eol = data:find("\n", at, true)
    local size = tonumber(data:sub(at, eol - 1))
    all[#all + 1] = data:sub(eol + 1, eol + size)
    at = eol + size + 1
  end
  mine = {}
  for n = id + 1, #all, tonumber(args[3]) do
    mine[#mine + 1] = all[n]
  end
  once = args[2] == "once"
  sent = 0
  spent = false
end

function request()
  sent = sent + 1
  if sent > #mine then
    if once then
      spent = true
      wrk.thread:stop()
      return mine[#mine] -- answered as a duplicate, if it goes out before the stop
    end
    sent = 1
  end
  return mine[sent]
end

function done(summary, latency, requests)
  local spent_any = false
  for _, thread in ipairs(threads) do
    spent_any = spent_any or thread:get("spent")
  end
  local errors = summary.errors
  io.write(string.format(
    'wrk-figures {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "status_errors": %d, "socket_errors": %d, '
      .. '"timeouts": %d, "spent": %s}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.status,
    errors.connect + errors.read + errors.write, errors.timeout, tostring(spent_any)))
end
