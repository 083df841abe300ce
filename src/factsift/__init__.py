"""factsift: label each sentence of commentary as fact, quotation or opinion."""
