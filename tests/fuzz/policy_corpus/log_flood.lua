-- fail-open: log on every check
for i = 1, 10000 do log(("line %d"):format(i)) end
return false
