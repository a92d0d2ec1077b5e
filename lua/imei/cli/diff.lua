--- imei diff OLD.lua NEW.lua --out DIR DUMP... — what-if: the same as
-- `imei classify --compare OLD.lua --policy NEW.lua` (docs/classify.md, "What-if").
local classify_cmd = require "imei.cli.classify"

local diff_cmd = {}

function diff_cmd.configure(cmd)
  classify_cmd.configure(cmd, true)
end

function diff_cmd.run(args)
  return classify_cmd.run(args)
end

return diff_cmd
