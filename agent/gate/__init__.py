"""The gate: validate -> facts -> policy -> confirm/approve -> execute once."""
