# Installs the library, its headers and a CMake package so that another project can say
#   find_package(brigade REQUIRED)
#   target_link_libraries(app PRIVATE brigade::brigade)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS brigade EXPORT brigade-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/brigade DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT brigade-targets NAMESPACE brigade::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/brigade)
# A static brigade built with liburing (src/CMakeLists.txt) passes it on to its users' link: the
# package config then finds it again, with pkg-config as the build did.
get_target_property(brigade_library_type brigade TYPE)
if(BRIGADE_HAVE_LIBURING AND brigade_library_type STREQUAL "STATIC_LIBRARY")
  set(BRIGADE_PACKAGE_NEEDS_LIBURING 1)
else()
  set(BRIGADE_PACKAGE_NEEDS_LIBURING 0)
endif()
configure_package_config_file(cmake/brigade-config.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/brigade-config.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/brigade)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/brigade-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/brigade-config.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/brigade-config-version.cmake
  ${CMAKE_CURRENT_SOURCE_DIR}/cmake/brigade-compiler-check.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/brigade)
# For find_package(brigade) with brigade_DIR pointing at this build tree (the config includes it).
configure_file(cmake/brigade-compiler-check.cmake ${CMAKE_CURRENT_BINARY_DIR}/brigade-compiler-check.cmake COPYONLY)
