# One folder of src/ is one library, and the build enforces the layers between them.
#
#   openbatch_folder(DEPENDS <targets...> [PRIVATE <targets...>] [TEST_DEPENDS <targets...>]
#                    [EXTRA_SOURCES <files...>] [EXCLUDE <file names...>])
#
# called from src/<dir>/CMakeLists.txt makes:
#   - openbatch_<name> (<name> is <dir> with '/' as '_'): a static library of the folder's .cpp files
#     that are not tests. It links DEPENDS publicly (what its headers or its users need) and PRIVATE
#     privately (third-party libraries its .cpp files use). EXTRA_SOURCES are added to it (generated
#     files); the EXCLUDE names are left out of it (an executable's main.cpp).
#   - Its headers, "<dir>/x.h", visible only to targets that link it. They are not found through src/:
#     each library has an include folder of its own in the build tree that holds links to its headers
#     and nothing else, so a header of a layer that a target does not link fails to compile
#     ("fatal error: store/store.h: No such file or directory") instead of building a cycle.
#   - openbatch_<name>_tests: the folder's *_test.cpp files, one GoogleTest binary, linked with the
#     library, GoogleTest's main and TEST_DEPENDS (what only the tests use: other folders' *_for_test.h
#     helpers, test-only libraries). Each folder's tests link and run without the others', so a change
#     in store/ relinks only the binaries of the folders above it.
function(openbatch_folder)
  cmake_parse_arguments(ARG "" "" "DEPENDS;PRIVATE;TEST_DEPENDS;EXTRA_SOURCES;EXCLUDE" ${ARGN})
  file(RELATIVE_PATH dir "${PROJECT_SOURCE_DIR}/src" "${CMAKE_CURRENT_SOURCE_DIR}")
  string(REPLACE "/" "_" name "${dir}")
  set(target openbatch_${name})

  file(GLOB headers CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/*.h")
  set(include_dir "${PROJECT_BINARY_DIR}/include/${name}")
  file(REMOVE_RECURSE "${include_dir}")
  file(MAKE_DIRECTORY "${include_dir}/${dir}")
  foreach(header ${headers})
    get_filename_component(header_name "${header}" NAME)
    file(CREATE_LINK "${header}" "${include_dir}/${dir}/${header_name}" SYMBOLIC)
  endforeach()

  file(GLOB sources CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/*.cpp")
  set(tests ${sources})
  list(FILTER sources EXCLUDE REGEX "_test\\.cpp$")
  list(FILTER tests INCLUDE REGEX "_test\\.cpp$")
  foreach(excluded ${ARG_EXCLUDE})
    list(REMOVE_ITEM sources "${CMAKE_CURRENT_SOURCE_DIR}/${excluded}")
  endforeach()

  add_library(${target} STATIC ${sources} ${ARG_EXTRA_SOURCES})
  target_include_directories(${target} PUBLIC "${include_dir}")
  target_link_libraries(${target} PUBLIC ${ARG_DEPENDS} nlohmann_json::nlohmann_json Threads::Threads
                        PRIVATE ${ARG_PRIVATE})

  if(OPENBATCH_BUILD_TESTS AND tests)
    add_executable(${target}_tests ${tests})
    target_compile_definitions(${target}_tests PRIVATE OPENBATCH_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
    # Debian's cpp-httplib first on the link line (see src/cli/CMakeLists.txt).
    target_link_libraries(${target}_tests PRIVATE openbatch_httplib ${target} ${ARG_PRIVATE} ${ARG_TEST_DEPENDS} GTest::gtest_main
                                                  GTest::gmock)
    gtest_discover_tests(${target}_tests DISCOVERY_TIMEOUT 60)
  endif()
endfunction()
