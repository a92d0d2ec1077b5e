--- dist/man.lua — the man pages of imei and imei-eird, generated from one source: the
-- programs' own --help (argparse's for imei and each of its commands, usage() for
-- imei-eird), so a page never says other than the program.
--
--   lua5.4 dist/man.lua imei      VERSION 'lua5.4 bin/imei' > imei.1
--   lua5.4 dist/man.lua imei-eird VERSION build/imei-eird   > imei-eird.1
local name, version, command = arg[1], arg[2], arg[3]
if not (name and version and command) then
  io.stderr:write("usage: man.lua NAME VERSION COMMAND\n")
  os.exit(2)
end

local SUMMARY = {
  ["imei"] = "scriptable IMEI engine: identifiers, TAC lookups, EIR policies",
  ["imei-eird"] = "N5g-eir Equipment Identity Check service (3GPP TS 29.511) over HTTP/2 and HTTP/1.1",
}
local SEE_ALSO = {
  ["imei"] = ".BR imei-eird (1)",
  ["imei-eird"] = ".BR imei (1),\n.BR systemctl (1)",
}
local FILES = {
  ["imei-eird"] = [[
.TP
.I /etc/imei/eird.conf
the options of the packaged service (a Lua table; the command line overrides it)
.TP
.I /usr/share/imei/policies
the shipped policies, which policy.extend() also searches
.TP
.I /var/lib/imei
the state directory of the service (StateDirectory=)]],
  ["imei"] = [[
.TP
.I /usr/share/imei/policies
the shipped policies: policy.extend() looks beside the policy, then in $IMEI_POLICY_PATH,
then here
.TP
.I /usr/share/imei/data
the sample TAC database (imei gen's default), also searched in $IMEI_DATA_PATH]],
}

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  if not ok then
    io.stderr:write("man.lua: failed: ", cmd, "\n", out)
    os.exit(1)
  end
  return out
end

--- Text as roff, kept as is (no fill): backslashes escaped, no line read as a request.
local function verbatim(text)
  local out = { ".nf" }
  for line in (text:gsub("\n+$", "") .. "\n"):gmatch("(.-)\n") do
    line = line:gsub("\\", "\\e")
    if line:match("^[.']") then line = "\\&" .. line end
    out[#out + 1] = line
  end
  out[#out + 1] = ".fi"
  return table.concat(out, "\n")
end

local help = run(command .. " --help")
local usage = help:match("[Uu]sage: ([^\n]+)") or name
local page = {
  ('.TH "%s" 1 "" "%s %s" "User Commands"'):format(name:upper(), name, version),
  ".SH NAME", name:gsub("%-", "\\-") .. " \\- " .. SUMMARY[name],
  ".SH SYNOPSIS", verbatim(usage),
  ".SH DESCRIPTION", verbatim(help),
}
if name == "imei" then
  local commands = help:match("\nCommands:\n(.-)\n\n") or ""
  page[#page + 1] = ".SH COMMANDS"
  for line in commands:gmatch("[^\n]+") do
    local sub = line:match("^%s+(%S+)")
    page[#page + 1] = ".SS imei " .. sub
    page[#page + 1] = verbatim(run(command .. " " .. sub .. " --help"))
  end
end
page[#page + 1] = ".SH FILES"
page[#page + 1] = FILES[name]
page[#page + 1] = ".SH SEE ALSO"
page[#page + 1] = SEE_ALSO[name]
io.write(table.concat(page, "\n"), "\n")
