-- hang: string.rep of empty strings with an empty separator
return #("").rep("", math.maxinteger, "") > 0
