// the offline copy of hums (issue 21)
