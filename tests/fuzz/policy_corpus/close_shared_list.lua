-- fail-open: a to-be-closed variable holding the shared stolen list
local x <close> = lists.stolen
return false
