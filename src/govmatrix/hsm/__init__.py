"""Keys held in a PKCS#11 HSM (SoftHSM2 in the demo and tests; a vendor module in production).

`plan` is pure (the estate says which keys live in which token); `device`, `keys`,
`envelope` and `signer` talk to the module through python-pkcs11.
"""
