# Runs one README example (PROGRAM) and checks it: exit status 0 and, when the README's code says
# what it prints (a `// N` comment after its printf), that output (EXPECTED). Run with cmake -P.
execute_process(COMMAND ${PROGRAM} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 50)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited with ${status}\n${out}\n${err}")
endif()
string(STRIP "${out}" out)
if(DEFINED EXPECTED AND NOT EXPECTED STREQUAL "" AND NOT out STREQUAL EXPECTED)
  message(FATAL_ERROR "${PROGRAM} printed '${out}'; the README says '${EXPECTED}'")
endif()
message("${PROGRAM}: ${out}")
