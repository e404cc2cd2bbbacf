from dualchannel.core.masking import mask_id_number, mask_name, mask_phone


def test_id_numbers_show_region_and_last_four_only():
    assert mask_id_number("42010219900307123X") == "420102********123X"


def test_phone_numbers_show_prefix_and_last_four_only():
    assert mask_phone("13812345678") == "138****5678"


def test_names_show_the_family_name_only():
    assert mask_name("张三丰") == "张**"


def test_empty_values_stay_empty():
    assert mask_id_number("") == mask_phone(None) == mask_name("") == ""
