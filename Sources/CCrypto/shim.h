#ifndef MHA_BACKUP_CCRYPTO_SHIM_H
#define MHA_BACKUP_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#endif
