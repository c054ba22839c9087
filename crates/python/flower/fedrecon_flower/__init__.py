"""fedrecon on Flower 1.42: ``server_app`` (coordinator, fedrecon's per-group aggregation) and
``client_app`` (one fedrecon site per SuperNode). ``common`` holds the job options, the site
policy and the tensor checks both sides share."""
