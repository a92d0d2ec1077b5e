-- crash: an __index that indexes itself
local t = setmetatable({}, {})
getmetatable(t).__index = function(s, k) return s[k] end
return t.x
