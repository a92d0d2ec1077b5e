--- imei.classify.audit — the audit trail of a replay (docs/classify.md, "Audit trail"):
-- what a report was computed from, byte for byte, and the check that it still is.
--
-- report.json gets an `audit` section: the engine's version, the run date, the command
-- line, the working folder, the state's generation before and after the run (null when
-- no state is kept), and the SHA-256 and size of every input — each policy file of the
-- extend chain, the TAC database, each list, each dump — and of every file published
-- into --out. `imei classify --verify OUT` (audit.verify) recomputes them all.
--
-- Cost: the lists' digests are those the list loader computed while reading them (never
-- twice); the TAC database and the dumps are hashed in a separate streaming pass
-- (core/file_digest.c), on a thread of its own while the replay sets up and reads them
-- when it has two jobs or more, after the reading otherwise (bench/classify_bench.sh
-- measures both).
local host = require "imei.host"
local core = require "imei.core"
local text = require "imei.classify.text"

local audit = {}

local NULL = text.NULL

local function absolute(path)
  return host.realpath(path) or NULL
end

local function entry(role, path, sha256, bytes, extra)
  local e = { role = role, path = path, absolute = absolute(path), sha256 = sha256 or NULL, bytes = bytes or NULL }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

--- Start hashing the dumps: on a thread of its own when `parallel`, else when finished;
-- none when `skip` (classify.run's digest_dumps = false, for bench/audit_bench.sh).
-- `inputs` (paths, optional): other inputs known from the start (the TAC database),
-- hashed first in the same pass, skip or not: audit.build takes their digests from it
-- instead of hashing them at the end of the run, when nothing else runs beside.
-- Returns a collector with .finish() -> { [path] = { sha256 =, bytes = } | { error = } };
-- closing it (a to-be-closed variable) stops a pass not finished within a MiB.
function audit.start(paths, parallel, skip, inputs)
  local files = {}
  for _, p in ipairs(inputs or {}) do files[#files + 1] = p end
  for _, p in ipairs(paths) do
    if p ~= "-" and not skip then files[#files + 1] = p end
  end
  local job = parallel and host.digest_files(files) or nil
  local c = {}
  function c.finish()
    local t0 = host.monotime()
    job = job or host.digest_files(files)
    local out = {}
    for _, r in ipairs(job:wait()) do out[r.path] = r end
    c.wait_seconds = host.monotime() - t0
    return out
  end
  return setmetatable(c, { __close = function() if job then job:close() end end })
end

--- The audit section. ctx: { digests (collector:finish()), policy_files (the extend
-- chain, the policy first), skip_dumps (true: the dumps were not hashed), tacdb (a path
-- or nil), other_inputs ({ { role =, path = } }, hashed as they are: an exceptions
-- file...), lists_loaded (the report's), dumps (paths as given), run_date, command_line
-- (array or nil), state = { generation_before =, generation_after = } (nil: no state kept) }.
-- Returns the section, or nil and a message when an input cannot be read.
function audit.build(ctx)
  local inputs = text.array()
  for _, path in ipairs(ctx.policy_files or {}) do
    local sha, bytes = host.file_sha256(path)
    if not sha then return nil, "the audit trail: " .. bytes end
    inputs[#inputs + 1] = entry("policy", path, sha, bytes)
  end
  if type(ctx.tacdb) == "string" then
    local d = ctx.digests and ctx.digests[ctx.tacdb] -- hashed beside the setup (audit.start)
    local sha, bytes = d and d.sha256, d and d.bytes
    if not sha then sha, bytes = host.file_sha256(ctx.tacdb) end
    if not sha then return nil, "the audit trail: " .. bytes end
    inputs[#inputs + 1] = entry("tacdb", ctx.tacdb, sha, bytes)
  end
  for _, o in ipairs(ctx.other_inputs or {}) do -- { role =, path = }: e.g. an exceptions file
    local sha, bytes = host.file_sha256(o.path)
    if not sha then return nil, "the audit trail: " .. bytes end
    inputs[#inputs + 1] = entry(o.role, o.path, sha, bytes)
  end
  for _, l in ipairs(ctx.lists_loaded or {}) do
    -- the digest the loader computed over the very bytes it read
    inputs[#inputs + 1] = entry("list", l.file or l.name, l.sha256, l.bytes, { name = l.name })
  end
  for _, path in ipairs(ctx.dumps or {}) do
    if path == "-" then
      inputs[#inputs + 1] = { role = "dump", path = "-", absolute = NULL, sha256 = NULL, bytes = NULL,
                              note = "standard input: not kept, so not hashed" }
    elseif ctx.skip_dumps then
      inputs[#inputs + 1] = entry("dump", path, nil, nil, { note = "not hashed (digest_dumps = false)" })
    elseif ctx.digests[path] and ctx.digests[path].not_regular then
      inputs[#inputs + 1] = entry("dump", path, nil, nil, { note = "a pipe or a device: not kept, so not hashed" })
    else
      local d = ctx.digests[path]
      if not d or d.error then return nil, "the audit trail: " .. (d and d.error or path .. ": not hashed") end
      inputs[#inputs + 1] = entry("dump", path, d.sha256, d.bytes)
    end
  end
  local state = ctx.state or {}
  local cwd = host.realpath(".")
  return {
    engine_version = core.version, run_date = ctx.run_date, -- the run's times are in run (one place)
    command_line = ctx.command_line and text.array(ctx.command_line) or NULL, cwd = cwd or NULL,
    inputs = inputs, outputs = text.array(),
    state = { generation_before = state.generation_before or NULL, generation_after = state.generation_after or NULL },
  }
end

--- Hash the files written into `dir` (names) into the section's outputs.
function audit.outputs(section, dir, names)
  for _, name in ipairs(names) do
    local sha, bytes = host.file_sha256(dir .. "/" .. name)
    if not sha then return nil, bytes end
    section.outputs[#section.outputs + 1] = { path = name, sha256 = sha, bytes = bytes }
  end
  return true
end

--- One line for the text report.
function audit.text(section)
  if not section then return nil end
  local n = 0
  for _, i in ipairs(section.inputs) do
    if i.sha256 ~= NULL then n = n + 1 end
  end
  return ("Audit: imei %s; SHA-256 of %d input file(s) and of the published files in report.json " ..
          "(check them with imei classify --verify)"):format(section.engine_version, n)
end

-- Verify ------------------------------------------------------------------------------

local function check(path, want_sha, want_bytes)
  local sha, bytes = host.file_sha256(path)
  if not sha then
    return "missing", bytes
  end
  want_bytes = math.tointeger(want_bytes) -- JSON numbers decode as floats
  if sha ~= want_sha or (want_bytes and bytes ~= want_bytes) then
    return "changed", ("now sha256 %s, %d bytes; the report has %s, %s bytes"):format(sha, bytes, tostring(want_sha),
      tostring(want_bytes or "?"))
  end
  return "ok"
end

--- Recompute the digests recorded in OUT/report.json. Returns { code = 0 | 1,
-- files = { { role, path, status = "ok" | "changed" | "missing" | "not hashed", why } },
-- text = lines for people }, or nil and a message (code 2: no report, not JSON, no audit).
function audit.verify(out)
  local report_path = out .. "/report.json"
  local f, err = io.open(report_path, "rb")
  if not f then return nil, ("%s: cannot read the report (%s)"):format(report_path, tostring(err)) end
  local body = f:read("a")
  f:close()
  local cjson = require("cjson.safe")
  local r = cjson.decode(body)
  if type(r) ~= "table" then return nil, report_path .. ": not a JSON report" end
  local a = r.audit
  if type(a) ~= "table" or type(a.inputs) ~= "table" or type(a.outputs) ~= "table" then
    return nil, report_path .. ": has no audit trail (written by an imei older than 'audit'?)"
  end
  local files, bad = {}, 0
  local function add(role, shown, path, sha, bytes)
    local status, why
    if type(sha) ~= "string" then
      status, why = "not hashed", "the report has no digest of it (standard input?)"
    elseif type(path) ~= "string" then
      status, why = "missing", "no path recorded"
    else
      status, why = check(path, sha, bytes)
    end
    if status ~= "ok" then bad = bad + 1 end
    files[#files + 1] = { role = role, path = shown, status = status, why = why }
  end
  for _, i in ipairs(a.inputs) do
    local path = type(i.absolute) == "string" and i.absolute or i.path
    if type(i.absolute) == "string" and not host.file_size(i.absolute) and type(i.path) == "string" then
      path = i.path -- moved with the working folder: the path as given
    end
    add(i.role, i.path, path, i.sha256, i.bytes)
  end
  for _, o in ipairs(a.outputs) do
    local ok_name = type(o.path) == "string" and not o.path:find("/", 1, true) and o.path ~= ".." and o.path
    add("published", o.path, ok_name and (out .. "/" .. ok_name), o.sha256, o.bytes)
  end
  local lines = {}
  for _, e in ipairs(files) do
    local label = e.status == "ok" and "ok" or e.status:upper()
    lines[#lines + 1] = ("%-10s %-9s %s%s"):format(label, e.role, tostring(e.path), e.why and (": " .. e.why) or "")
  end
  lines[#lines + 1] = bad == 0 and ("all %d files match the report"):format(#files)
    or ("%d of %d files do not match the report"):format(bad, #files)
  return { code = bad == 0 and 0 or 1, files = files, text = table.concat(lines, "\n") .. "\n" }
end

return audit
