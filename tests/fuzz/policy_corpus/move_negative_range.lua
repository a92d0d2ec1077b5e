-- hang: table.move from math.mininteger
return table.move({}, math.mininteger + 1, -1, 1) ~= nil
