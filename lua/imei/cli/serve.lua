--- imei serve [--config FILE] --policy FILE [--tacdb DB] [--lists DIR] [--store S] [--listen HOST:PORT] — the
-- N5g-eir Equipment Identity Check service (3GPP TS 29.511) over HTTP/2 and HTTP/1.1.
--
-- The service is a C program, imei-eird (server/, docs/serve.md); this command finds it,
-- compiles a text TAC database to a temporary image first when needed, and replaces itself
-- with it (exec: same pid, so SIGHUP and SIGTERM sent to `imei serve` reach the server).
local serve = {}

function serve.configure(cmd)
  cmd:option("--config", "imei-eird config file (a Lua table of options; docs/serve.md); flags override it.")
  cmd:option("--policy", "Policy file (required here or in --config).")
  cmd:option("--tacdb", "TAC database: a compiled image, or a GSMA/Osmocom file (compiled to a temporary image).")
  cmd:option("--lists", "Folder of CSV lists (stolen.csv, registration.csv, ...); reloaded on SIGHUP.")
  cmd:option("--store",
    "Sightings store: memory, lmdb:PATH or a redis://, rediss://, redis+cluster://, redis+unix:// URL.")
  cmd:flag("--record", "Record each check's sighting in the store.")
  cmd:option("--listen", "Address to listen on, HOST:PORT (port 0: any free port; default 127.0.0.1:8080).")
  cmd:option("--workers", "Worker threads, one engine each (default: the number of CPUs).")
  cmd:option("--access-log", "Access log file, one line per request ('-': standard output).")
  cmd:option("--port-file", "Write the port listened on to this file once ready.")
  cmd:option("--admin-listen",
    "Serve GET /explain (why a verdict, docs/explain.md) and /health on this private HOST:PORT only.")
  cmd:option("--grace", "Graceful stop: seconds to finish requests in flight (default 10).")
  cmd:option("--idle-timeout", "Close connections idle for this many seconds (default 60).")
  cmd:option("--instructions", "Instruction budget of the policy per check (default 1000000).")
  cmd:option("--server", "The imei-eird program (default: $IMEI_EIRD, this checkout's build, or PATH).")
  cmd:flag("--print-command", "Print the imei-eird command line instead of running it.")
  cmd:epilog([[
Endpoints: GET /n5g-eir-eic/v1/equipment-status?pei=...[&supi=...][&gpsi=...] (200 with the
status, 404 ERROR_EQUIPMENT_UNKNOWN, 400 ProblemDetails with invalidParams), GET /health,
GET /metrics (Prometheus). HTTP/2 with prior knowledge (h2c) and HTTP/1.1 on one port.
Signals: SIGHUP reloads the lists and the policy (no request fails), SIGTERM stops after the
requests in flight, SIGUSR1 reopens the access log. See docs/serve.md.

Example:
  imei serve --policy policies/example-country.lua --tacdb data/osmocom-tacdb.csv \
      --lists lists/ --listen 127.0.0.1:8080 &
  curl --http2-prior-knowledge \
      'http://127.0.0.1:8080/n5g-eir-eic/v1/equipment-status?pei=imei-490154203237518']])
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- The imei-eird program: --server, $IMEI_EIRD, the checkout's build folder, beside the
-- imei script (make install, a rock's own bin/), the rock tree's bin/, then PATH.
local function find_server(args)
  if args.server then return args.server end
  local env = os.getenv("IMEI_EIRD")
  if env and env ~= "" then return env end
  local here = package.searchpath("imei.cli.serve", package.path)
  local root = here and here:match("^(.*)/lua/imei/cli/serve%.lua$")
  if root then
    local build = os.getenv("IMEI_BUILD") or "build"
    local candidate = (build:sub(1, 1) == "/" and build or root .. "/" .. build) .. "/imei-eird"
    if exists(candidate) then return candidate end
  end
  local script_dir = arg and type(arg[0]) == "string" and arg[0]:match("^(.*)/[^/]+$")
  if script_dir then
    local tree = script_dir:match("^(.*)/lib/luarocks/rocks%-5%.4/[^/]+/[^/]+/bin$")
    for _, dir in ipairs { script_dir, tree and tree .. "/bin" } do
      if exists(dir .. "/imei-eird") then return dir .. "/imei-eird" end
    end
  end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    if exists(dir .. "/imei-eird") then return dir .. "/imei-eird" end
  end
  return nil
end

--- A compiled image as is; a text database compiled to a temporary image (which the server
-- unlinks once it has mapped it).
local function tacdb_image(path)
  local core = require "imei.core"
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local head = f:read(#core.tacdb_magic)
  f:close()
  if head == core.tacdb_magic then return path, false end
  local db, lerr = require("imei.tacdb").load(path)
  if not db then return nil, ("tacdb %s: %s"):format(path, lerr) end
  local tmp = os.tmpname()
  local ok, serr = db:save(tmp)
  if not ok then
    os.remove(tmp)
    return nil, ("tacdb %s: cannot write a compiled copy: %s"):format(path, serr)
  end
  return tmp, true
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

function serve.run(args)
  local cli = require "imei.cli"
  local server = find_server(args)
  if not server then
    return cli.fail("serve", "cannot find imei-eird: build it (make build) or give --server / $IMEI_EIRD")
  end
  if not args.policy and not args.config then
    return cli.fail("serve", "give --policy (or a --config file that names one)")
  end
  local argv = { "--lua-path", package.path }
  if args.config then
    argv[#argv + 1] = "--config"
    argv[#argv + 1] = args.config
  end
  if args.policy then
    argv[#argv + 1] = "--policy"
    argv[#argv + 1] = args.policy
  end
  -- loopback unless told otherwise (here or in the config file)
  if not args.listen and not args.config then args.listen = "127.0.0.1:8080" end
  local temporary -- a compiled copy of a text TAC database, removed by the server
  if args.tacdb then
    local image, err_or_tmp = tacdb_image(args.tacdb)
    if not image then return cli.fail("serve", err_or_tmp) end
    argv[#argv + 1] = "--tacdb"
    argv[#argv + 1] = image
    if err_or_tmp then
      temporary = image
      argv[#argv + 1] = "--tacdb-temporary"
    end
  end
  local options = {
    { "listen", "--listen" }, { "lists", "--lists" }, { "store", "--store" }, { "workers", "--workers" },
    { "access_log", "--access-log" }, { "port_file", "--port-file" }, { "grace", "--grace" },
    { "idle_timeout", "--idle-timeout" }, { "instructions", "--instructions" }, { "admin_listen", "--admin-listen" },
  }
  for _, o in ipairs(options) do
    if args[o[1]] then
      argv[#argv + 1] = o[2]
      argv[#argv + 1] = args[o[1]]
    end
  end
  if args.record then argv[#argv + 1] = "--record" end

  if args.print_command then
    local words = { shell_quote(server) }
    for _, a in ipairs(argv) do words[#words + 1] = shell_quote(a) end
    io.write(table.concat(words, " "), "\n")
    if temporary then os.remove(temporary) end
    return cli.EXIT_OK
  end

  local has_exec, sys = pcall(require, "imei.exec")
  if has_exec then
    local _, err = sys.exec(server, argv) -- returns only on failure
    if temporary then os.remove(temporary) end
    return cli.fail("serve", err)
  end
  -- Without imei.exec (an install without the C helper): run it as a child.
  local words = { "exec", shell_quote(server) }
  for _, a in ipairs(argv) do words[#words + 1] = shell_quote(a) end
  local ok, how, code = os.execute(table.concat(words, " "))
  if ok then return cli.EXIT_OK end
  return how == "exit" and code or cli.EXIT_ERROR
end

return serve
