--- imei.classify.progress — a one-line progress bar on standard error, for people
-- watching a terminal: rows/s and a percentage when the size of the input is known.
-- Quiet unless enabled (imei classify enables it when stderr is a terminal).
local host = require "imei.host"
local text = require "imei.classify.text"

local progress = {}
progress.__index = progress

function progress.new(enabled, stream)
  return setmetatable({
    enabled = enabled, out = stream or io.stderr, last = 0, shown = false,
    width = tonumber(os.getenv("COLUMNS") or "") or 80,
  }, progress)
end

local function rate(n, seconds)
  local r = seconds > 0 and n / seconds or 0
  if r >= 1e6 then return ("%.2f M"):format(r / 1e6) end
  if r >= 1e3 then return ("%.1f k"):format(r / 1e3) end
  return ("%.0f"):format(r)
end

local function bar(fraction, width)
  local filled = math.floor(fraction * width + 0.5)
  if filled > width then filled = width end
  return "[" .. ("="):rep(filled) .. (" "):rep(width - filled) .. "]"
end

function progress:draw(line, force)
  if not self.enabled then return end
  local now = host.monotime()
  if not force and now - self.last < 0.1 then return end
  self.last = now
  if #line > self.width - 1 then line = line:sub(1, self.width - 1) end
  self.out:write("\r", line, (" "):rep(math.max(0, self.width - 1 - #line)), "\r")
  self.out:flush()
  self.shown = true
end

--- While reading: p is the replay's progress table, seconds since the start.
function progress:reading(p, seconds, name)
  if not self.enabled then return end
  local parts = {}
  if p.bytes_total > 0 then
    local f = p.bytes / p.bytes_total
    parts[#parts + 1] = bar(f, 20) .. (" %5.1f%%"):format(f * 100)
  end
  parts[#parts + 1] = ("%s rows, %s rows/s"):format(text.count(p.rows), rate(p.rows, seconds))
  if p.rejected > 0 then parts[#parts + 1] = text.count(p.rejected) .. " rejected" end
  if name then parts[#parts + 1] = name end
  self:draw("reading " .. table.concat(parts, "  "))
end

--- While evaluating.
function progress:evaluating(p, seconds)
  if not self.enabled then return end
  local f = p.pairs > 0 and p.pairs_done / p.pairs or 1
  self:draw(("deciding %s %5.1f%%  %s of %s pairs, %s pairs/s"):format(bar(f, 20), f * 100,
    text.count(p.pairs_done), text.count(p.pairs), rate(p.pairs_done, seconds)))
end

function progress:note(msg)
  if not self.enabled then return end
  self:draw(msg, true)
end

--- Clear the line.
function progress:done()
  if self.enabled and self.shown then
    self.out:write("\r", (" "):rep(self.width - 1), "\r")
    self.out:flush()
    self.shown = false
  end
end

return progress
