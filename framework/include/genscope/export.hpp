// Symbol visibility: the core and plugins are built with hidden visibility; these mark what crosses.
#pragma once

#define GENSCOPE_API __attribute__((visibility("default")))
#define GENSCOPE_PLUGIN_EXPORT __attribute__((visibility("default")))
