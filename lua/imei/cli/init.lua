--- imei.cli — the `imei` command: argparse front, one module per subcommand.
--
-- Each lua/imei/cli/<name>.lua returns { configure = function(command) … end,
-- run = function(args) return exit_code end }. configure() receives the argparse
-- command object to add its arguments and options to.
local argparse = require "argparse"

local cli = {}

-- The subcommands, in the order `imei --help` lists them: { module, summary }.
cli.commands = {
  { "inspect", "Show the breakdown of identifiers (IMEI, IMEISV, PEI, MEID, ESN)." },
  { "tac", "TAC database: compile a GSMA or Osmocom file, look devices up, show sizes." },
  { "check", "Decide one request with a policy: WHITELISTED, GREYLISTED, BLACKLISTED or UNKNOWN." },
  { "explain", "Explain a verdict: each condition in order, why it matched or not, the facts it looked at." },
  { "policy", "Test (run the examples of) or lint policy files." },
  { "classify", "Replay operator dumps through a policy: block, notification and exception lists, report." },
  { "history", "One device's record in the national register: sightings, matches, notices, blocks, causes." },
  { "diff", "What-if: imei diff OLD.lua NEW.lua DUMP... is imei classify --compare OLD.lua --policy NEW.lua." },
  { "gen", "Generate realistic synthetic operator dumps (and matching lists) from a seed." },
  { "serve", "Run the N5g-eir equipment status service (HTTP/2 and HTTP/1.1) with a policy." },
}

-- Exit codes: 0 all good, 1 some input was invalid, 2 usage or operational error.
cli.EXIT_OK, cli.EXIT_INVALID, cli.EXIT_ERROR = 0, 1, 2

--- Whether an error is lua5.4's answer to a Ctrl-C: until a command puts its own handler
-- in place (imei classify does, once its output folder is set up), the interpreter's
-- handler turns SIGINT into the error "interrupted!" at the next Lua instruction. That
-- is the user stopping the command, not an internal error.
function cli.is_interrupt(err)
  return type(err) == "string" and err:match("^[^\n]*"):sub(-12) == "interrupted!"
end

--- Stop as a Ctrl-C stops a program: a line on standard error, then die of SIGINT (so a
-- calling shell sees it), or exit 130 where the signal cannot be raised again.
function cli.interrupted(command)
  io.stderr:write("imei", command and (" " .. command) or "", ": interrupted (SIGINT): stopped\n")
  io.stderr:flush()
  local ok, host = pcall(require, "imei.host")
  if ok and type(host) == "table" and host.signals_reraise then host.signals_reraise(2) end
  os.exit(128 + 2)
end

function cli.main(argv)
  local parser = argparse("imei", "A scriptable IMEI engine: identifiers, TAC lookups, EIR policies.")
    :epilog("Run 'imei COMMAND --help' for the options of one command.")
  parser:command_target("command")
  parser:flag("--version", "Show the version of imei and exit."):action(function()
    io.write("imei ", require("imei.core").version, "\n")
    os.exit(cli.EXIT_OK)
  end)
  parser:require_command(true)
  -- usage errors exit 2 (1 means "some input was invalid"), with the usage of the
  -- (sub)command at fault
  local function usage_error(self, message)
    io.stderr:write(self:get_usage(), "\n\nimei: error: ", message, "\n")
    os.exit(cli.EXIT_ERROR)
  end
  parser.error = usage_error
  local modules = {}
  for _, entry in ipairs(cli.commands) do
    local name, summary = entry[1], entry[2]
    local module = require("imei.cli." .. name)
    local command = parser:command(name, summary)
    command.error = usage_error
    module.configure(command)
    for _, sub in ipairs(command._commands or {}) do sub.error = usage_error end
    modules[name] = module
  end
  -- on a usage error argparse prints the usage of the (sub)command at fault and exits 2
  local args = parser:parse(argv)
  args._argv = table.move(argv, 1, #argv, 1, {}) -- as typed, for the audit trails (imei classify)
  local run_ok, code = xpcall(modules[args.command].run, debug.traceback, args)
  if not run_ok and cli.is_interrupt(code) then cli.interrupted(args.command) end
  if not run_ok then
    io.stderr:write("imei ", args.command, ": internal error: ", tostring(code), "\n")
    return cli.EXIT_ERROR
  end
  return code or cli.EXIT_OK
end

--- Print an error for the user, "imei CMD: message", and return the error exit code.
function cli.fail(command, message)
  io.stderr:write("imei ", command, ": ", message, "\n")
  return cli.EXIT_ERROR
end

return cli
