#ifndef MHA_BACKUP_CCRYPTO_SHIM_H
#define MHA_BACKUP_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#endif
